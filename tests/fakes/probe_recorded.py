"""A probe that answers from a recorded machine (``tests/data/machines/NAME/``).

``machine.json`` holds what psutil, the registry, the service manager and the
commands said on that host; ``files/`` holds the bytes of the files it had, so
odd encodings stay exactly as the host wrote them. Files listed with an
``error`` raise that error when read, as an unreadable file would.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import ntpath
import posixpath
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from vxassist.sysinfo.probe import (
    ClockSync,
    CommandResult,
    CpuInfo,
    DiskInfo,
    FileStat,
    Interface,
    MemoryInfo,
    PlatformInfo,
    ProbeError,
    ProcessInfo,
    RegValue,
    SerialPort,
    Service,
    Snapshot,
    Socket,
    TimeZone,
    Unsupported,
)

MACHINES = Path(__file__).resolve().parent.parent / "data" / "machines"

_ERRORS: dict[str, type[OSError]] = {
    "permission": PermissionError,
    "missing": FileNotFoundError,
    "io": OSError,
}


class RecordedProbe:
    """Answers every probe question from one recorded machine."""

    def __init__(self, name: str, overrides: dict[str, Any] | None = None) -> None:
        self.root = MACHINES / name
        self.data: dict[str, Any] = json.loads((self.root / "machine.json").read_text("utf-8"))
        self.data.update(overrides or {})
        self.system = self.data["platform"]["system"]
        self.calls: list[str] = []

    # -- helpers ----------------------------------------------------------------

    def _key(self, path: str) -> str:
        return path.lower() if self.system == "windows" else path

    def _files(self) -> dict[str, dict[str, Any]]:
        return {self._key(p): v for p, v in self.data.get("files", {}).items()}

    def _paths(self) -> list[str]:
        return list(self.data.get("files", {})) + list(self.data.get("dirs", []))

    # -- platform -----------------------------------------------------------------

    def platform(self) -> PlatformInfo:
        return PlatformInfo(**self.data["platform"])

    def now(self) -> datetime:
        return datetime.fromisoformat(self.data["now"])

    def boot_time(self) -> float:
        return float(self.data["boot_time"])

    def cpu(self) -> CpuInfo:
        return CpuInfo(**self.data["cpu"])

    def memory(self) -> MemoryInfo:
        return MemoryInfo(**self.data["memory"])

    def disks(self) -> list[DiskInfo]:
        return [DiskInfo(**d) for d in self.data["disks"]]

    def interfaces(self) -> list[Interface]:
        return [
            Interface(**{**i, "addresses": tuple(i["addresses"])}) for i in self.data["interfaces"]
        ]

    def snapshot(self) -> Snapshot:
        self.calls.append("snapshot")
        procs = tuple(
            ProcessInfo(**{**p, "cmdline": tuple(p["cmdline"])}) for p in self.data["processes"]
        )
        socks = tuple(Socket(**s) for s in self.data["sockets"])
        return Snapshot(procs, socks, dict(self.data.get("snapshot_errors", {})))

    def environ(self, pid: int) -> dict[str, str]:
        env = self.data.get("environ", {}).get(str(pid))
        if env is None:
            raise ProbeError(f"environment of process {pid} not readable (access denied)")
        return dict(env)

    def services(self) -> list[Service]:
        if "services" not in self.data:
            raise Unsupported("no service manager recorded")
        return [Service(**s) for s in self.data["services"]]

    # -- registry -------------------------------------------------------------------

    def _registry(self) -> dict[str, dict[str, Any]]:
        if self.system != "windows":
            raise Unsupported("there is no registry on this platform")
        return {k.lower(): v for k, v in self.data.get("registry", {}).items()}

    def reg_values(self, key: str, names: tuple[str, ...] | None = None) -> dict[str, RegValue]:
        self.calls.append(f"reg:{key}" + (f":{','.join(names)}" if names is not None else ""))
        values = self._registry().get(key.lower(), {})
        out: dict[str, RegValue] = {}
        for name, value in values.items():
            if names is not None and name.lower() not in {n.lower() for n in names}:
                continue
            if isinstance(value, dict) and "hex" in value:
                out[name] = bytes.fromhex(value["hex"])
            else:
                out[name] = value
        return out

    def reg_subkeys(self, key: str) -> list[str]:
        prefix = key.lower() + "\\"
        found: dict[str, str] = {}
        for full in self.data.get("registry", {}) if self.system == "windows" else ():
            if full.lower().startswith(prefix):
                child = full[len(prefix) :].split("\\", 1)[0]
                found.setdefault(child.lower(), child)
        if self.system != "windows":
            raise Unsupported("there is no registry on this platform")
        return sorted(found.values())

    # -- files ------------------------------------------------------------------------

    def expand(self, path: str) -> str:
        env = {k.lower(): v for k, v in self.data.get("env", {}).items()}
        return re.sub(r"%([^%]+)%", lambda m: env.get(m.group(1).lower(), m.group(0)), path)

    def glob(self, pattern: str) -> list[str]:
        pattern = self.expand(pattern)
        sep = "\\" if self.system == "windows" else "/"
        want = self._key(pattern).split(sep)
        out = []
        for path in self._paths():
            parts = self._key(path).split(sep)
            if len(parts) == len(want) and all(
                fnmatch.fnmatchcase(p, w) for p, w in zip(parts, want, strict=True)
            ):
                out.append(path)
        return sorted(out)

    def _entry(self, path: str) -> dict[str, Any] | None:
        return self._files().get(self._key(path))

    def _is_dir(self, path: str) -> bool:
        mod = ntpath if self.system == "windows" else posixpath
        key = self._key(path.rstrip("\\/"))
        if key in {self._key(d) for d in self.data.get("dirs", [])}:
            return True
        return any(self._key(mod.dirname(p)) == key for p in self.data.get("files", {}))

    def _content(self, path: str) -> bytes:
        entry = self._entry(path)
        if entry is None:
            if self._is_dir(path):
                raise IsADirectoryError(21, "Is a directory", path)
            raise FileNotFoundError(2, "No such file or directory", path)
        if "error" in entry:
            raise _ERRORS[entry["error"]](13, f"recorded {entry['error']} error", path)
        if "src" in entry:
            return (self.root / "files" / entry["src"]).read_bytes()
        if "b64" in entry:
            return base64.b64decode(entry["b64"])
        return str(entry.get("text", "")).encode("utf-8")

    def stat(self, path: str) -> FileStat | None:
        entry = self._entry(path)
        if entry is None:
            return FileStat(0, 0.0) if self._is_dir(path) else None
        mtime = float(entry.get("mtime", 0.0))
        if "error" in entry:
            return FileStat(int(entry.get("size", 0)), mtime)
        return FileStat(len(self._content(path)), mtime)

    def read_bytes(self, path: str, limit: int) -> bytes:
        self.calls.append(f"read:{path}")
        return self._content(path)[:limit]

    def tail_bytes(self, path: str, limit: int) -> bytes:
        self.calls.append(f"tail:{path}")
        data = self._content(path)
        return data[-limit:] if limit else b""

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        self.calls.append("run:" + " ".join(argv))
        answer = self.data.get("commands", {}).get(" ".join(argv))
        if answer is None:
            raise ProbeError(f"{argv[0]} could not be run (not found)")
        return CommandResult(
            int(answer.get("returncode", 0)), answer.get("stdout", ""), answer.get("stderr", "")
        )

    def banner(self, host: str, port: int, timeout: float) -> bytes:
        self.calls.append(f"banner:{host}:{port}")
        hexed = self.data.get("banners", {}).get(f"{host}:{port}")
        if hexed is None:
            raise ProbeError(f"no banner from {host}:{port} (connection refused)")
        return bytes.fromhex(hexed)

    def timezone(self) -> TimeZone:
        return TimeZone(**self.data["timezone"])

    def clock_sync(self) -> ClockSync:
        if "clock_sync" not in self.data:
            raise Unsupported("kernel clock state is read from the registry on windows")
        return ClockSync(**self.data["clock_sync"])

    def serial_ports(self) -> list[SerialPort]:
        if "serial_ports" not in self.data:
            raise Unsupported("serial ports are read from the registry on windows")
        return [SerialPort(**s) for s in self.data["serial_ports"]]
