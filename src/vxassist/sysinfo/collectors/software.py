"""Installed software with versions, so the customer can name the affected application.

Linux: the dpkg status file parsed directly (faster than spawning dpkg-query),
or ``rpm -qa``. Windows: the uninstall keys of both registry views.
"""

from __future__ import annotations

import re
from typing import Any

from vxassist.sysinfo.collectors.base import CollectContext, Collector
from vxassist.sysinfo.model import Action, Collected
from vxassist.sysinfo.probe import ProbeError

DPKG_STATUS = "/var/lib/dpkg/status"
_UNINSTALL = (
    r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
    r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall",
)


_INSTALLED = re.compile(r"^Status: \S+ \S+ installed$", re.M)
_PACKAGE = re.compile(r"^Package: *(\S+)", re.M)
_VERSION = re.compile(r"^Version: *(\S+)", re.M)


def parse_dpkg_status(text: str) -> list[dict[str, str]]:
    """Installed packages (name, version) from a dpkg status file."""
    out: list[dict[str, str]] = []
    for stanza in text.split("\n\n"):
        if not _INSTALLED.search(stanza):
            continue
        name = _PACKAGE.search(stanza)
        version = _VERSION.search(stanza)
        if name:
            out.append({"name": name.group(1), "version": version.group(1) if version else ""})
    return out


class SoftwareCollector(Collector):
    section = "software"
    description = "installed software and versions (dpkg, rpm, Windows uninstall keys)"
    budget_s = 4.0

    def collect(self, ctx: CollectContext) -> Collected:
        out = Collected()
        if ctx.windows:
            packages, source = self._windows(ctx), "uninstall registry keys"
        else:
            packages, source = self._linux(ctx, out)
        packages.sort(key=lambda p: (p["name"].lower(), p.get("version", "")))
        out.data = {"source": source, "count": len(packages), "packages": packages}
        return out

    def _windows(self, ctx: CollectContext) -> list[dict[str, str]]:
        found: dict[tuple[str, str], dict[str, str]] = {}
        for base in _UNINSTALL:
            for sub in ctx.probe.reg_subkeys(base):
                values = ctx.probe.reg_values(rf"{base}\{sub}")
                name = str(values.get("DisplayName", "")).strip()
                if not name or values.get("SystemComponent") == 1:
                    continue
                if values.get("ParentKeyName"):
                    continue  # an update of another entry
                entry = {"name": name, "version": str(values.get("DisplayVersion", ""))}
                if values.get("Publisher"):
                    entry["publisher"] = str(values["Publisher"])
                found[(entry["name"], entry["version"])] = entry
        return list(found.values())

    def _linux(self, ctx: CollectContext, out: Collected) -> tuple[list[dict[str, str]], str]:
        try:
            raw = ctx.probe.read_bytes(DPKG_STATUS, 64 * 1024 * 1024)
        except FileNotFoundError:
            raw = None
        except OSError as exc:
            out.note(self.section, DPKG_STATUS, Action.FAILED, exc.strerror or str(exc))
            raw = None
        if raw is not None:
            return parse_dpkg_status(raw.decode("utf-8", "replace")), "dpkg"
        try:
            result = ctx.probe.run(
                ["rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"], timeout=3.0
            )
        except ProbeError as exc:
            out.note(self.section, "rpm -qa", Action.SKIPPED, str(exc))
            return [], "none"
        packages: list[dict[str, Any]] = []
        for line in result.stdout.splitlines():
            name, _, version = line.partition("\t")
            if name:
                packages.append({"name": name, "version": version})
        return packages, "rpm"
