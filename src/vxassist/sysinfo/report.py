"""The Python API the case intake calls: collect, pre-fill a case, write a bundle."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import zipfile
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

from vxassist.errors import VxError
from vxassist.settings import Settings
from vxassist.sysinfo.cleaner import clean
from vxassist.sysinfo.collectors import ALL_COLLECTORS, CollectContext, Collector
from vxassist.sysinfo.model import Action, ManifestEntry, Report, Section
from vxassist.sysinfo.probe import PlatformInfo, Probe, ProbeError
from vxassist.sysinfo.rules import load_rules
from vxassist.sysinfo.runner import run_collectors

log = logging.getLogger(__name__)


class SysinfoError(VxError):
    """The system report could not be made or saved."""


def collect_report(
    settings: Settings | None = None,
    anonymize: bool = False,
    *,
    probe: Probe | None = None,
    collectors: Sequence[Collector] | None = None,
    budget_scale: float = 1.0,
) -> Report:
    """Collect every section and return the report with secrets already removed.

    ``probe`` defaults to this machine; tests pass a recorded one. Nothing is
    cached between calls.
    """
    started = time.perf_counter()
    settings = settings or Settings()
    rules = load_rules(settings.policy_extra)
    if probe is None:
        from vxassist.sysinfo.live import LiveProbe

        # only the processes the report is about are read in full
        probe = LiveProbe(detail=rules.is_subject_process)
    try:
        platform = probe.platform()
    except ProbeError as exc:
        platform = PlatformInfo("unknown", "", "", "", "", distribution=str(exc))
    ctx = CollectContext(probe, rules, platform)
    chosen = list(collectors) if collectors is not None else [c() for c in ALL_COLLECTORS]
    sections, manifest, results = run_collectors(ctx, chosen, budget_scale)
    manifest = [
        ManifestEntry("report", "rules", Action.SKIPPED, problem) for problem in rules.problems
    ] + manifest
    files = [f for r in results for f in r.files]
    # from the sections, not the probe: a snapshot that hung must not hang us here
    process_names = {
        str(entry.get("process") or entry.get("name") or "")
        for name in ("ports", "vxtracker")
        for entry in _listing(sections, name)
    }
    sections, manifest, files, anonymizer = clean(
        sections,
        manifest,
        files,
        anonymize,
        hostnames=(platform.hostname, platform.fqdn),
        process_names=process_names,
    )
    host = platform.hostname
    if anonymizer:
        host = anonymizer.apply(host)
    try:
        now = probe.now()
    except ProbeError:
        from datetime import datetime

        now = datetime.now(UTC)
    return Report(
        generated_at=now.astimezone(UTC).isoformat(timespec="seconds"),
        host=host,
        anonymized=anonymize,
        sections={s.name: s for s in sections},
        manifest=tuple(manifest),
        files=tuple(files),
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _listing(sections: list[Section], name: str) -> list[dict[str, Any]]:
    for section in sections:
        if section.name == name and section.has_data:
            key = "listening" if name == "ports" else "processes"
            return [e for e in section.data.get(key, []) if isinstance(e, dict)]
    return []


def _ok(report: Report, name: str) -> dict[str, Any]:
    section = report.sections.get(name)
    return section.data if section and section.has_data else {}


def database_label(server: dict[str, Any]) -> str:
    label = str(server.get("product", ""))
    if server.get("release"):
        label += f" {server['release']}"
    if server.get("edition"):
        label += f" {server['edition']}"
    if server.get("version"):
        label += f" {server['version']}"
    if server.get("instance") and server.get("engine") == "sqlserver":
        label += f" (instance {server['instance']})"
    return label.strip()


def case_prefill(report: Report) -> dict[str, str]:
    """Case fields the machine can tell: ``database_type``, ``vxtracker_server``,
    ``pbx_manufacturer``, ``pbx_model``. A field the report cannot fill is left out."""
    out: dict[str, str] = {}
    dbs = _ok(report, "databases").get("servers", [])
    servers = [s for s in dbs if s.get("engine") != "access"] or dbs
    if servers:
        running = [s for s in servers if s.get("pids") or s.get("listening")] or servers
        labels = list(dict.fromkeys(database_label(s) for s in running))
        out["database_type"] = "; ".join(labels)
    vx = _ok(report, "vxtracker")
    if vx.get("installed"):
        text = report.host
        if vx.get("version"):
            text += f", VXTracker {vx['version']}"
        states = [f"{s['name']} {s['state']}" for s in vx.get("services", [])]
        if states:
            text += f" ({', '.join(states)})"
        out["vxtracker_server"] = text
    pbx = _ok(report, "pbx")
    if pbx.get("manufacturer"):
        out["pbx_manufacturer"] = str(pbx["manufacturer"])
    if pbx.get("model"):
        out["pbx_model"] = str(pbx["model"])
    return out


def write_bundle(report: Report, path: str | os.PathLike[str]) -> Path:
    """Save the report, its manifest and the (redacted) files as one zip to attach to a case."""
    from vxassist.sysinfo.render import summary

    target = Path(path)
    members: list[tuple[str, bytes]] = [
        (f"files/{f.name}", f.text.encode("utf-8")) for f in report.files
    ]
    data = report.to_dict()
    members.insert(0, ("report.json", json.dumps(data, indent=2, ensure_ascii=False).encode()))
    members.insert(1, ("summary.txt", summary(report).encode("utf-8")))
    manifest = {
        "generated_at": report.generated_at,
        "host": report.host,
        "members": [
            {"name": name, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
            for name, body in members
        ],
        "items": data["manifest"],
    }
    tmp = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # readable by this account only: it describes the machine in detail
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with (
            os.fdopen(fd, "wb") as fh,
            zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        ):
            for name, body in members:
                zf.writestr(name, body)
            zf.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        tmp.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise SysinfoError(
            f"The bundle could not be saved to {target}; choose a folder you can write to.",
            detail=repr(exc),
        ) from exc
    return target


__all__ = ["Report", "Section", "SysinfoError", "case_prefill", "collect_report", "write_bundle"]
