"""The one door through which collectors read the machine.

Collectors never call psutil, ``platform``, ``winreg``, the service manager or
the file system themselves: they ask a ``Probe``. The live probe
(``vxassist.sysinfo.live``) answers from this machine; tests answer from a
recorded machine. Everything a probe returns is a plain frozen value.

Paths are strings in the probed machine's own syntax (``C:\\Program Files\\...``
on Windows), because a recorded Windows host is read on Linux in the tests.
Registry keys are written ``HKLM\\SOFTWARE\\...``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

#: registry value types a probe returns (REG_SZ, REG_DWORD, REG_MULTI_SZ, ...)
RegValue = str | int | list[str] | bytes


class ProbeError(Exception):
    """A probe could not answer; ``str()`` is the reason recorded in the manifest."""


class Unsupported(ProbeError):
    """The question makes no sense on this platform (e.g. the registry on Linux)."""


@dataclass(frozen=True)
class PlatformInfo:
    system: str  # "linux", "windows", "darwin"
    release: str
    version: str
    machine: str
    hostname: str
    fqdn: str = ""
    distribution: str = ""  # "Debian GNU/Linux 12 (bookworm)", "Windows Server 2019 Standard"


@dataclass(frozen=True)
class CpuInfo:
    logical: int
    physical: int | None
    model: str
    freq_mhz: float | None


@dataclass(frozen=True)
class MemoryInfo:
    total: int
    available: int
    swap_total: int
    swap_used: int


@dataclass(frozen=True)
class DiskInfo:
    device: str
    mountpoint: str
    fstype: str
    total: int
    used: int
    free: int


@dataclass(frozen=True)
class Interface:
    name: str
    addresses: tuple[str, ...]
    mac: str
    is_up: bool
    speed_mbps: int


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    name: str
    exe: str
    cmdline: tuple[str, ...]
    username: str


@dataclass(frozen=True)
class Socket:
    proto: str  # "tcp", "tcp6", "udp", "udp6"
    laddr: str
    lport: int
    raddr: str
    rport: int
    status: str  # "LISTEN", "ESTABLISHED", "NONE" (udp), ...
    pid: int | None


@dataclass(frozen=True)
class Service:
    name: str
    display_name: str
    state: str  # "running", "stopped", ...
    start_type: str  # "automatic", "manual", "disabled", ""
    binpath: str = ""
    pid: int | None = None


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime: float


@dataclass(frozen=True)
class SerialPort:
    name: str  # "COM1", "/dev/ttyS0"
    device: str  # driver or device path
    description: str = ""


@dataclass(frozen=True)
class ClockSync:
    #: None when the machine cannot tell
    synchronized: bool | None
    source: str = ""
    detail: str = ""


@dataclass(frozen=True)
class TimeZone:
    name: str
    utc_offset_s: int


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str
    stderr: str = ""


@dataclass(frozen=True)
class Snapshot:
    """What several collectors need, taken once per report."""

    processes: tuple[ProcessInfo, ...] = ()
    sockets: tuple[Socket, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)


class Probe(Protocol):
    """Read-only questions about one machine. Each may raise ``ProbeError``
    (``Unsupported`` where the platform has no such thing) or ``OSError`` for
    files; collectors record the reason and go on."""

    def platform(self) -> PlatformInfo: ...
    def now(self) -> datetime: ...
    def boot_time(self) -> float: ...
    def cpu(self) -> CpuInfo: ...
    def memory(self) -> MemoryInfo: ...
    def disks(self) -> list[DiskInfo]: ...
    def interfaces(self) -> list[Interface]: ...
    def snapshot(self) -> Snapshot:
        """Processes and sockets, taken once and shared by every collector of a report."""
        ...

    def environ(self, pid: int) -> dict[str, str]: ...
    def services(self) -> list[Service]: ...
    def reg_values(self, key: str, names: tuple[str, ...] | None = None) -> dict[str, RegValue]:
        """Values of a registry key; ``{}`` when the key does not exist. With
        ``names``, only those values are read (a password value is then never
        even asked for)."""
        ...

    def reg_subkeys(self, key: str) -> list[str]: ...
    def expand(self, path: str) -> str:
        """``path`` with ``%ProgramFiles%``-style variables of the machine expanded."""
        ...

    def glob(self, pattern: str) -> list[str]: ...
    def stat(self, path: str) -> FileStat | None:
        """Size and mtime, None when ``path`` does not exist."""
        ...

    def read_bytes(self, path: str, limit: int) -> bytes: ...
    def tail_bytes(self, path: str, limit: int) -> bytes: ...
    def run(self, argv: list[str], timeout: float) -> CommandResult: ...
    def banner(self, host: str, port: int, timeout: float) -> bytes:
        """The first bytes a TCP server sends on connect (without sending anything)."""
        ...

    def timezone(self) -> TimeZone: ...
    def clock_sync(self) -> ClockSync: ...
    def serial_ports(self) -> list[SerialPort]: ...
