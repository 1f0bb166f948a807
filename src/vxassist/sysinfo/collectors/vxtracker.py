"""VXTracker (install, version, services, config, log tails) and the PBX behind it.

Both sections rest on one discovery, done once per report: how VXTracker is
recognised is data (``rules.toml`` and the machine policy), not code.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vxassist.redact import MASK, holds_secret, is_secret_name, is_secret_pair
from vxassist.sysinfo.collectors.base import CollectContext, Collector
from vxassist.sysinfo.model import Action, Collected, IncludedFile, ManifestEntry
from vxassist.sysinfo.probe import ProbeError, ProcessInfo, Service
from vxassist.sysinfo.rules import matches
from vxassist.sysinfo.textfiles import (
    KEY_STORE_SUFFIXES,
    decode,
    is_binary,
    key_values,
    norm_key,
)


@dataclass
class Discovery:
    services: list[Service] = field(default_factory=list)
    processes: list[ProcessInfo] = field(default_factory=list)
    environments: dict[int, dict[str, str]] = field(default_factory=dict)
    install_dirs: list[str] = field(default_factory=list)
    registry: dict[str, dict[str, str]] = field(default_factory=dict)
    version: str = ""
    version_source: str = ""
    configs: list[IncludedFile] = field(default_factory=list)
    config_values: list[tuple[str, str, str]] = field(default_factory=list)  # file, key, value
    logs: list[IncludedFile] = field(default_factory=list)
    items: list[ManifestEntry] = field(default_factory=list)
    #: what could not be read: makes the section partial
    shortfalls: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.services or self.processes or self.install_dirs or self.registry)

    def value(self, keys: tuple[str, ...]) -> tuple[str, str] | None:
        """The first config value under one of ``keys``, with the file it came from."""
        wanted = [norm_key(k) for k in keys if not is_secret_name(k)]
        for want in wanted:
            for source, key, value in self.config_values:
                if norm_key(key) == want and value and not is_secret_name(key):
                    return value, source
        return None


def _binpath_exe(binpath: str) -> str:
    """The program of a service command line: quoted, or unquoted up to ``.exe``."""
    text = binpath.strip()
    if text.startswith('"'):
        return text.split('"')[1] if text.count('"') >= 2 else ""
    found = re.match(r"(?i)^(.+?\.exe)(?:\s|$)", text)
    if found:
        return found.group(1)
    return text.split(" ")[0] if text.startswith("/") else ""


def _safe_environment(env: dict[str, str]) -> dict[str, str]:
    """A process environment with the value of every variable that names a secret,
    holds one (a connection string, a URL with a password) or looks like one (a
    token) withheld: the name stays, so the engineer knows it is set."""
    return {
        name: MASK if is_secret_pair(name, value) or holds_secret(value) else value
        for name, value in env.items()
    }


def _loopback(address: str) -> bool:
    return address.startswith("127.") or address in ("::1", "localhost")


def _note(d: Discovery, item: str, action: Action, reason: str, short: bool | None = None) -> None:
    """A manifest item; one that failed (unless ``short`` says otherwise) also makes
    the section partial."""
    d.items.append(ManifestEntry("vxtracker", item, action, reason))
    if action is Action.FAILED if short is None else short:
        d.shortfalls.append(f"{item}: {reason}")


def discover(ctx: CollectContext) -> Discovery:
    """Find VXTracker on the machine; reasons for everything unreadable go to ``items``."""
    return ctx.shared("vxtracker", lambda: _discover(ctx))


def _discover(ctx: CollectContext) -> Discovery:
    rules = ctx.rules.vxtracker
    probe = ctx.probe
    d = Discovery()
    try:
        d.services = [
            s
            for s in ctx.services()
            if matches(s.name, rules.service_names) or matches(s.display_name, rules.service_names)
        ]
    except ProbeError as exc:
        _note(d, "services", Action.FAILED, str(exc))
    d.processes = [p for p in ctx.snapshot().processes if matches(p.name, rules.process_names)]
    for proc in d.processes:
        try:
            d.environments[proc.pid] = _safe_environment(probe.environ(proc.pid))
        except ProbeError as exc:
            _note(d, f"environment of process {proc.pid}", Action.SKIPPED, str(exc))
            d.shortfalls.append(str(exc))

    dirs: list[str] = []
    if ctx.windows:
        for key in rules.registry_keys:
            try:
                values = probe.reg_values(key)
            except ProbeError as exc:
                _note(d, key, Action.FAILED, str(exc))
                continue
            if not values:
                continue
            d.registry[key] = {k: str(v) for k, v in values.items() if not isinstance(v, bytes)}
            for name in rules.registry_install_values:
                if values.get(name):
                    dirs.append(str(values[name]))
            for name in rules.registry_version_values:
                if values.get(name) and not d.version:
                    d.version, d.version_source = str(values[name]), f"registry {key}"
    for path in rules.install_paths:
        expanded = probe.expand(path)
        try:
            if "%" not in expanded and probe.stat(expanded) is not None:
                dirs.append(expanded)
        except OSError as exc:
            _note(d, expanded, Action.FAILED, f"not readable: {exc.strerror or exc}")
    for proc in d.processes:
        if proc.exe:
            dirs.append(ctx.dirname(proc.exe))
    for svc in d.services:
        exe = _binpath_exe(svc.binpath)
        if exe:
            dirs.append(ctx.dirname(exe))
    seen: set[str] = set()
    sep = "\\" if ctx.windows else "/"
    for folder in sorted(dirs, key=len):
        key = folder.rstrip("\\/").lower() if ctx.windows else folder.rstrip("/")
        inside = any(key.startswith(s + sep) for s in seen)
        # a drive or file-system root is never an install folder (a bad binpath, say)
        if key and not key.endswith(":") and key not in seen and not inside:
            seen.add(key)
            d.install_dirs.append(folder.rstrip("\\/") or folder)

    if not d.version:
        for folder in d.install_dirs:
            for name in rules.version_files:
                path = ctx.join(folder, name)
                try:
                    raw = probe.read_bytes(path, 256)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    _note(d, path, Action.FAILED, exc.strerror or str(exc))
                    continue
                text = decode(raw)[0].strip().splitlines()
                if text:
                    d.version, d.version_source = text[0].strip(), path
                    break
            if d.version:
                break

    config_paths = _expand_globs(ctx, d, rules.config_globs)
    for path in config_paths:
        included = _read(ctx, d, path, rules.config_max_bytes, tail=False, kind="config")
        if included is not None:
            d.configs.append(included)
            d.config_values += [(path, k, v) for k, v in key_values(included.text)]
    if not d.version:
        found = d.value(("Version", "ProductVersion", "AppVersion"))
        if found:
            d.version, d.version_source = found[0], found[1]
    for path in _expand_globs(ctx, d, rules.log_globs):
        if path in config_paths:
            continue
        included = _read(ctx, d, path, rules.log_tail_bytes, tail=True, kind="logs")
        if included is not None:
            d.logs.append(included)
    return d


def _expand_globs(ctx: CollectContext, d: Discovery, patterns: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    limit = ctx.rules.vxtracker.max_files
    bases = d.install_dirs if d.found else []
    for pattern in patterns:
        absolute = pattern.startswith(("%", "/")) or ":" in pattern[:3]
        targets = [ctx.join("", pattern)] if absolute else [ctx.join(b, pattern) for b in bases]
        if absolute and not d.found:
            continue  # system-wide folders count only once VXTracker is known to be here
        for target in targets:
            try:
                matches_ = ctx.probe.glob(target)
            except OSError as exc:
                _note(d, target, Action.FAILED, exc.strerror or str(exc))
                continue
            for path in matches_:
                if path not in found:
                    try:
                        st = ctx.probe.stat(path)
                    except OSError as exc:
                        _note(d, path, Action.FAILED, f"not readable: {exc.strerror or exc}")
                        continue
                    if st is None:
                        continue
                    found.append(path)
    if len(found) > limit:
        _note(d, f"{len(found) - limit} more files", Action.SKIPPED, f"over the limit of {limit}")
    return found[:limit]


def _read(
    ctx: CollectContext, d: Discovery, path: str, limit: int, tail: bool, kind: str
) -> IncludedFile | None:
    used = sum(len(f.text) for f in d.configs + d.logs)
    room = ctx.rules.vxtracker.max_total_bytes - used
    if room <= 0:
        _note(d, path, Action.SKIPPED, "the report already holds as much file text as allowed")
        return None
    limit = min(limit, room)
    if ctx.basename(path).lower().endswith(KEY_STORE_SUFFIXES):
        _note(d, path, Action.SKIPPED, "a key store (binary key material): never collected")
        return None
    try:
        st = ctx.probe.stat(path)
        if tail and st and st.size > limit and (st.size - limit) % 2:
            limit -= 1  # start the tail on an even offset, where UTF-16 characters begin
        raw = ctx.probe.tail_bytes(path, limit) if tail else ctx.probe.read_bytes(path, limit)
    except IsADirectoryError:
        return None
    except OSError as exc:
        # a link or a pipe refused on purpose is no shortfall; a file we may not read is
        refused = isinstance(exc, FileNotFoundError) or exc.errno in (errno.ELOOP, errno.EINVAL)
        reason = f"not readable: {exc.strerror or exc}"
        _note(d, path, Action.FAILED, reason, short=not refused)
        return None
    size = st.size if st else len(raw)
    text, encoding = decode(raw, from_tail=tail and size > limit)
    if tail and size > limit:
        # the cut line could hold the end of a secret without its key: drop it
        text = text.split("\n", 1)[1] if "\n" in text else ""
    if is_binary(text):
        _note(d, path, Action.SKIPPED, f"a binary file, not text (read as {encoding}): left out")
        return None
    if "\ufffd" in text:
        _note(d, path, Action.COLLECTED, f"decoded as {encoding}; undecodable bytes replaced")
    name = f"vxtracker/{kind}/{ctx.basename(path)}"
    taken = {f.name for f in d.configs + d.logs}
    stem, n = name, 2
    while name in taken:  # two folders may hold a file of the same name
        name, n = f"{stem}.{n}", n + 1
    return IncludedFile(
        section="vxtracker",
        source=path,
        name=name,
        text=text,
        encoding=encoding,
        truncated=size > limit,
    )


def _file_info(f: IncludedFile) -> dict[str, Any]:
    return {
        "path": f.source,
        "bundle_name": f.name,
        "encoding": f.encoding,
        "truncated": f.truncated,
        # the cleaner adds "sha256" of the redacted text; a hash of the raw file
        # would let anyone confirm a guessed password
    }


class VxTrackerCollector(Collector):
    section = "vxtracker"
    description = "VXTracker install folder, version, services, config (secrets removed), logs"

    def collect(self, ctx: CollectContext) -> Collected:
        d = discover(ctx)
        out = Collected(items=list(d.items), files=d.configs + d.logs)
        ctx.snapshot_for(out, "processes")
        for reason in d.shortfalls:
            out.short(reason)
        config_text = {f.source: f.text for f in d.configs}
        out.data = {
            "installed": d.found,
            "install_dirs": d.install_dirs,
            "version": d.version,
            "version_source": d.version_source,
            "services": [
                {
                    "name": s.name,
                    "display_name": s.display_name,
                    "state": s.state,
                    "start_type": s.start_type,
                    "binpath": s.binpath,
                }
                for s in d.services
            ],
            "processes": [
                {
                    "pid": p.pid,
                    "name": p.name,
                    "exe": p.exe,
                    "cmdline": list(p.cmdline),
                    "user": p.username,
                    "environment": d.environments.get(p.pid, {}),
                }
                for p in d.processes
            ],
            "registry": d.registry,
            "config_files": [_file_info(f) | {"text": config_text[f.source]} for f in d.configs],
            "log_files": [_file_info(f) for f in d.logs],
        }
        if not d.found:
            out.note(
                self.section,
                "VXTracker",
                Action.SKIPPED,
                "no VXTracker service, process, install folder or registry key found",
            )
        return out


class PbxCollector(Collector):
    section = "pbx"
    description = "PBX make and model from the VXTracker config; CDR/SMDR link and last record"

    def collect(self, ctx: CollectContext) -> Collected:
        rules = ctx.rules.vxtracker
        d = discover(ctx)
        out = Collected()
        data: dict[str, Any] = {}
        for field_name, keys in (
            ("manufacturer", rules.pbx_manufacturer_keys),
            ("model", rules.pbx_model_keys),
        ):
            found = d.value(keys)
            data[field_name] = found[0] if found else ""
            data[f"{field_name}_source"] = found[1] if found else ""
        link: dict[str, str] = {}
        for key in rules.cdr_link_keys:
            hit = d.value((key,))
            if hit:
                link[key] = hit[0]
        data["link_config"] = link
        data["serial_ports"] = self._serial_ports(ctx, out)
        pids = {p.pid for p in d.processes}
        snap = ctx.snapshot_for(out, "processes", "sockets")
        # a connection to a port this host listens on (its database, say) is no PBX link
        local_ports = {s.lport for s in snap.sockets if s.status == "LISTEN"}
        local_addrs = {a for i in ctx.probe.interfaces() for a in i.addresses}
        data["tcp_peers"] = sorted(
            (
                {"local_port": s.lport, "peer": s.raddr, "peer_port": s.rport, "pid": s.pid}
                for s in snap.sockets
                if s.pid in pids
                and s.raddr
                and s.status == "ESTABLISHED"
                and not (s.rport in local_ports and (s.raddr in local_addrs or _loopback(s.raddr)))
            ),
            key=lambda e: (e["local_port"], e["peer"], e["peer_port"]),
        )
        data["listening_ports"] = sorted(
            {s.lport for s in snap.sockets if s.pid in pids and s.status == "LISTEN"}
        )
        data["last_record"] = self._newest_record(ctx, d, out)
        out.data = data
        return out

    def _serial_ports(self, ctx: CollectContext, out: Collected) -> list[dict[str, str]]:
        try:
            if ctx.windows:
                values = ctx.probe.reg_values(r"HKLM\HARDWARE\DEVICEMAP\SERIALCOMM")
                return [{"name": str(v), "device": k} for k, v in sorted(values.items())]
            ports = []
            for port in ctx.probe.serial_ports():
                if port.description == "kernel console":
                    reason = "the kernel console, not a PBX link"
                    out.note(self.section, port.name, Action.SKIPPED, reason)
                    continue
                ports.append({"name": port.name, "device": port.device})
            return ports
        except ProbeError as exc:
            out.note(self.section, "serial ports", Action.FAILED, str(exc))
            return []

    def _newest_record(
        self, ctx: CollectContext, d: Discovery, out: Collected
    ) -> dict[str, Any] | None:
        if not d.found:
            return None
        newest: tuple[float, str] | None = None
        for path in _expand_globs(ctx, d, ctx.rules.vxtracker.cdr_globs):
            try:
                st = ctx.probe.stat(path)
            except OSError as exc:
                out.note(self.section, path, Action.FAILED, exc.strerror or str(exc))
                continue
            if st and (newest is None or st.mtime > newest[0]):
                newest = (st.mtime, path)
        if newest is None:
            return None
        now = ctx.probe.now()
        return {
            "path": newest[1],
            "modified": datetime.fromtimestamp(newest[0], UTC).isoformat(timespec="seconds"),
            "age_s": int(now.timestamp() - newest[0]),
        }
