"""The probe that reads this machine: psutil, ``platform``, files, and on Windows
the registry and the service manager.

psutil enters vxassist here and nowhere else. One ``LiveProbe`` serves one
report: the process and socket snapshot is taken once, on first use, and shared
by every collector of that report; nothing is kept across reports.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob as globlib
import logging
import os
import platform
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

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

log = logging.getLogger(__name__)

_PSEUDO_FS = frozenset(
    {"tmpfs", "devtmpfs", "squashfs", "overlay", "proc", "sysfs", "cgroup", "cgroup2", "nsfs"}
)


def _os_release() -> str:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


class LiveProbe:
    """Answers from the machine this process runs on."""

    def __init__(self, detail: Callable[[str], bool] | None = None) -> None:
        """``detail`` says, by process name, which processes are read in full
        (program and command line); the others by name, parent and owner only,
        so what their command lines hold never enters the report's memory.
        None reads every process in full."""
        self._detail = detail
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._system = platform.system().lower()

    # -- platform and hardware -------------------------------------------------

    def platform(self) -> PlatformInfo:
        uname = platform.uname()
        distribution = ""
        if self._system == "linux":
            distribution = _os_release()
        elif self._system == "windows":
            distribution = f"Windows {platform.win32_ver()[0]} {platform.win32_edition() or ''}"
        hostname = socket.gethostname()
        return PlatformInfo(
            system=self._system,
            release=uname.release,
            version=uname.version,
            machine=uname.machine,
            hostname=hostname,
            fqdn=hostname,  # socket.getfqdn() can wait seconds on DNS; not worth it here
            distribution=distribution.strip(),
        )

    def now(self) -> datetime:
        return datetime.now(UTC)

    def boot_time(self) -> float:
        return float(psutil.boot_time())

    def cpu(self) -> CpuInfo:
        model = platform.processor()
        if self._system == "linux":
            try:
                with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                    for line in fh:
                        if line.startswith("model name"):
                            model = line.split(":", 1)[1].strip()
                            break
            except OSError:
                pass
        try:
            freq = psutil.cpu_freq()
        except (OSError, NotImplementedError, RuntimeError):
            freq = None
        return CpuInfo(
            logical=psutil.cpu_count() or 0,
            physical=psutil.cpu_count(logical=False),
            model=model,
            freq_mhz=float(freq.current) if freq else None,
        )

    def memory(self) -> MemoryInfo:
        vm = psutil.virtual_memory()
        sw = psutil.swap_memory()
        return MemoryInfo(
            total=int(vm.total),
            available=int(vm.available),
            swap_total=int(sw.total),
            swap_used=int(sw.used),
        )

    def disks(self) -> list[DiskInfo]:
        out: list[DiskInfo] = []
        seen: set[str] = set()
        for part in psutil.disk_partitions(all=False):
            if part.fstype in _PSEUDO_FS or part.mountpoint in seen:
                continue
            seen.add(part.mountpoint)
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:
                continue  # e.g. an empty card reader on Windows
            out.append(
                DiskInfo(
                    device=part.device,
                    mountpoint=part.mountpoint,
                    fstype=part.fstype,
                    total=int(usage.total),
                    used=int(usage.used),
                    free=int(usage.free),
                )
            )
        return out

    def interfaces(self) -> list[Interface]:
        addrs = psutil.net_if_addrs()
        stats = psutil.net_if_stats()
        out = []
        for name, entries in addrs.items():
            ips = tuple(
                a.address.split("%")[0]
                for a in entries
                if a.family in (socket.AF_INET, socket.AF_INET6)
            )
            macs = [a.address for a in entries if a.family == psutil.AF_LINK]
            st = stats.get(name)
            out.append(
                Interface(
                    name=name,
                    addresses=ips,
                    mac=macs[0] if macs else "",
                    is_up=bool(st and st.isup),
                    speed_mbps=int(st.speed) if st else 0,
                )
            )
        return out

    # -- processes and sockets -------------------------------------------------

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._snapshot is None:
                self._snapshot = self._take_snapshot()
            return self._snapshot

    def _take_snapshot(self) -> Snapshot:
        errors: dict[str, str] = {}
        # the socket scan is mostly system calls (readlink of every process's fds):
        # run it beside the process scan
        conns: list[Any] = []

        def scan_sockets() -> None:
            try:
                conns.extend(psutil.net_connections(kind="inet"))
            except psutil.AccessDenied as exc:
                errors["sockets"] = f"listing sockets needs administrator rights ({exc})"
            except (psutil.Error, OSError) as exc:
                errors["sockets"] = f"sockets could not be listed ({exc})"

        scanner = threading.Thread(target=scan_sockets, name="sysinfo-sockets", daemon=True)
        scanner.start()
        posix = os.name == "posix"
        procs, stuck = _scan_processes(self._detail)
        if stuck:
            listed = ", ".join(str(pid) for pid in stuck)
            errors["processes"] = (
                f"process{'es' if len(stuck) > 1 else ''} {listed} did not answer within "
                f"{PROCESS_READ_S:g} s and {'were' if len(stuck) > 1 else 'was'} left out"
            )
        hidden = hidden_processes_reason(
            procs, os.geteuid() if posix else None, os.path.isdir("/proc/self")
        )
        if hidden:
            errors["processes"] = "; ".join(filter(None, (errors.get("processes"), hidden)))
        sockets: list[Socket] = []
        scanner.join(SOCKETS_S)
        if scanner.is_alive():
            # a process whose file descriptors cannot be read holds the scan up
            errors["sockets"] = f"sockets could not be listed within {SOCKETS_S:g} s"
            conns = []
        for c in conns:
            proto = ("tcp" if c.type == socket.SOCK_STREAM else "udp") + (
                "6" if c.family == socket.AF_INET6 else ""
            )
            sockets.append(
                Socket(
                    proto=proto,
                    laddr=c.laddr.ip if c.laddr else "",
                    lport=c.laddr.port if c.laddr else 0,
                    raddr=c.raddr.ip if c.raddr else "",
                    rport=c.raddr.port if c.raddr else 0,
                    status=str(c.status),
                    pid=c.pid,
                )
            )
        return Snapshot(processes=tuple(procs), sockets=tuple(sockets), errors=errors)

    def environ(self, pid: int) -> dict[str, str]:
        try:
            return dict(psutil.Process(pid).environ())
        except (psutil.Error, OSError) as exc:
            raise ProbeError(f"environment of process {pid} not readable ({exc})") from exc

    def services(self) -> list[Service]:
        if self._system == "windows":
            return _windows_services()
        if self._system == "linux":
            return _systemd_services(self)
        raise Unsupported(f"no service manager query on {self._system}")

    # -- registry ---------------------------------------------------------------

    def reg_values(self, key: str, names: tuple[str, ...] | None = None) -> dict[str, RegValue]:
        if self._system != "windows":
            raise Unsupported("there is no registry on this platform")
        from vxassist.sysinfo import windows

        return windows.reg_values(key, names)

    def reg_subkeys(self, key: str) -> list[str]:
        if self._system != "windows":
            raise Unsupported("there is no registry on this platform")
        from vxassist.sysinfo import windows

        return windows.reg_subkeys(key)

    # -- files and commands -----------------------------------------------------

    def expand(self, path: str) -> str:
        return os.path.expandvars(path)

    def glob(self, pattern: str) -> list[str]:
        return sorted(globlib.glob(os.path.expandvars(pattern)))

    def stat(self, path: str) -> FileStat | None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        return FileStat(size=st.st_size, mtime=st.st_mtime)

    def read_bytes(self, path: str, limit: int) -> bytes:
        _regular_file(path)
        with open(path, "rb") as fh:
            return fh.read(limit)

    def tail_bytes(self, path: str, limit: int) -> bytes:
        _regular_file(path)
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read(limit)

    def run(self, argv: list[str], timeout: float) -> CommandResult:
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "LC_ALL": "C"},
            )
        except subprocess.TimeoutExpired as exc:
            raise ProbeError(f"{argv[0]} did not answer within {timeout:g} s") from exc
        except OSError as exc:
            raise ProbeError(f"{argv[0]} could not be run ({exc.strerror or exc})") from exc
        return CommandResult(
            returncode=done.returncode,
            stdout=done.stdout.decode("utf-8", "replace"),
            stderr=done.stderr.decode("utf-8", "replace"),
        )

    def banner(self, host: str, port: int, timeout: float) -> bytes:
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                sock.settimeout(timeout)
                return sock.recv(512)
        except OSError as exc:
            raise ProbeError(f"no banner from {host}:{port} ({exc})") from exc

    # -- time -------------------------------------------------------------------

    def timezone(self) -> TimeZone:
        offset = int(
            -(time.altzone if time.daylight and time.localtime().tm_isdst else time.timezone)
        )
        name = ""
        if self._system == "linux":
            try:
                name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
            except OSError:
                link = os.path.realpath("/etc/localtime")
                if "zoneinfo/" in link:
                    name = link.split("zoneinfo/", 1)[1]
        if not name:
            name = "/".join(time.tzname)
        return TimeZone(name=name, utc_offset_s=offset)

    def clock_sync(self) -> ClockSync:
        if self._system != "linux":
            raise Unsupported(f"kernel clock state is read from the registry on {self._system}")
        marker = Path("/run/systemd/timesync/synchronized")
        if marker.exists():
            return ClockSync(True, "systemd-timesyncd", "synchronized marker present")
        return _adjtimex_state()

    def serial_ports(self) -> list[SerialPort]:
        if self._system != "linux":
            raise Unsupported(f"serial ports are read from the registry on {self._system}")
        return serial_ports_in("/sys")


#: the driver of a legacy UART's tty: serial8250 before kernel 6.5, the serial core's
#: "port" since
_UART_DRIVERS = frozenset({"serial8250", "port"})


def serial_ports_in(sysfs: str) -> list[SerialPort]:
    """The serial ports under ``sysfs``: legacy UARTs the firmware reported an I/O
    port for, USB and other serial adapters; the kernel's console is marked so,
    since a PBX cannot be on it."""
    try:
        with open(os.path.join(sysfs, "class/tty/console/active"), encoding="ascii") as fh:
            consoles = set(fh.read().split())
    except OSError:
        consoles = set()
    out = []
    for dev in sorted(globlib.glob(os.path.join(sysfs, "class/tty/*/device"))):
        name = dev.split("/")[-2]
        driver = os.path.basename(os.path.realpath(os.path.join(dev, "driver")))
        if name.startswith("ttyS") and driver in _UART_DRIVERS:
            # the kernel lists 4-32 legacy UARTs whether wired or not; keep those
            # with an I/O port the firmware reported
            try:
                port = Path(sysfs, "class/tty", name, "port").read_text().strip()
            except OSError:
                port = ""
            if port in ("", "0x0"):
                continue
        description = "kernel console" if name in consoles else ""
        out.append(SerialPort(name=f"/dev/{name}", device=driver, description=description))
    return out


#: how long one process may take to describe itself before it is left out
PROCESS_READ_S = 0.5
#: how long the socket scan may take (it reads every process's descriptors)
SOCKETS_S = 2.0
_ATTRS = ["pid", "ppid", "name", "uids" if os.name == "posix" else "username"]
_DETAIL_ATTRS = ["exe", "cmdline"]


def _read_process(
    pid: int, users: dict[int, str], detail: Callable[[str], bool] | None = None
) -> ProcessInfo | None:
    """One process as the snapshot keeps it; None when it is gone. May block on a
    process stuck in the kernel (a hung mount, say): the caller bounds it."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            info = proc.as_dict(_ATTRS, ad_value=None)
            if detail is None or detail(str(info["name"] or "")):
                info.update(proc.as_dict(_DETAIL_ATTRS, ad_value=None))
    except (psutil.Error, OSError):
        return None
    if os.name == "posix":
        uids = info.get("uids")
        # psutil resolves the user name per process (a passwd lookup each time);
        # resolve each uid once instead
        info["username"] = _user_name(users, uids.real) if uids else ""
    return ProcessInfo(
        pid=int(info["pid"] or pid),
        ppid=int(info["ppid"] or 0),
        name=str(info["name"] or ""),
        exe=str(info.get("exe") or ""),
        cmdline=tuple(str(a) for a in (info.get("cmdline") or ())),
        username=str(info["username"] or ""),
    )


def _scan_processes(
    detail: Callable[[str], bool] | None = None,
) -> tuple[list[ProcessInfo], list[int]]:
    """Every process, each read within ``PROCESS_READ_S``; and the pids left out.

    The reads run on a worker thread; when one process does not answer in time,
    that worker is abandoned (a blocked read cannot be interrupted) and a new one
    carries on with the next process, so one stuck process costs one bound, not
    the report.
    """
    pids = psutil.pids()
    users: dict[int, str] = {}
    found: dict[int, ProcessInfo] = {}
    stuck: list[int] = []
    lock = threading.Lock()
    state = {"generation": 0, "index": 0, "started": time.monotonic(), "done": 0}

    def work(generation: int, start: int) -> None:
        for index in range(start, len(pids)):
            with lock:
                if state["generation"] != generation:
                    return
                state["index"], state["started"] = index, time.monotonic()
            try:
                proc = _read_process(pids[index], users, detail)
            except Exception:  # one odd process must not end the scan
                log.debug("process %s could not be read", pids[index], exc_info=True)
                proc = None
            with lock:
                if state["generation"] != generation:
                    return
                if proc is not None:
                    found[pids[index]] = proc
        with lock:
            if state["generation"] == generation:
                state["done"] = 1

    def launch(generation: int, start: int) -> threading.Thread:
        worker = threading.Thread(
            target=work, args=(generation, start), name="sysinfo-processes", daemon=True
        )
        worker.start()
        return worker

    worker = launch(0, 0)
    while True:
        worker.join(0.02)
        with lock:
            if state["done"] or not worker.is_alive():
                break
            if time.monotonic() - state["started"] <= PROCESS_READ_S:
                continue
            index = int(state["index"])
            stuck.append(pids[index])
            state["generation"] += 1
            state["started"] = time.monotonic()
            generation = int(state["generation"])
        worker = launch(generation, index + 1)
    with lock:
        state["generation"] += 1  # a late answer from an abandoned worker is not kept
        return [found[pid] for pid in pids if pid in found], stuck


def hidden_processes_reason(
    processes: list[ProcessInfo], euid: int | None, proc_mounted: bool
) -> str | None:
    """Why the process list is incomplete, or None: an account other than root
    that cannot see process 1 is behind ``/proc`` mounted with ``hidepid``."""
    if euid in (None, 0) or not proc_mounted or any(p.pid == 1 for p in processes):
        return None
    return (
        "other accounts' processes are hidden from this account "
        "(/proc is mounted with hidepid); run as root to see them"
    )


def _regular_file(path: str) -> None:
    """Refuse what is not a plain file: opening a FIFO would wait for a writer
    forever, a device could be endless, and a symbolic link could pull any file
    of the machine (``/etc/shadow``) into a report that leaves it."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        raise OSError(40, "a symbolic link, not followed", path)
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(21, "Is a directory", path)
    if not stat.S_ISREG(mode):
        raise OSError(22, "not a regular file (a pipe, socket or device)", path)


def _user_name(cache: dict[int, str], uid: int) -> str:
    if uid not in cache:
        import pwd

        try:
            cache[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            cache[uid] = str(uid)
    return cache[uid]


def _adjtimex_state() -> ClockSync:
    """The kernel's own view (STA_UNSYNC) when no sync daemon left a marker."""

    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return ClockSync(None, "", "libc not found")
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        # struct timex is ~208 bytes; modes = 0 (all zero) only reads the state
        buf = ctypes.create_string_buffer(512)
        state = libc.adjtimex(buf)
    except (OSError, AttributeError) as exc:
        return ClockSync(None, "", f"adjtimex unavailable ({exc})")
    # TIME_ERROR (5) means the kernel clock is not synchronised
    if state < 0:
        return ClockSync(None, "kernel", "adjtimex failed")
    return ClockSync(state != 5, "kernel", f"adjtimex state {state}")


def _systemd_services(probe: LiveProbe) -> list[Service]:
    if not os.path.isdir("/run/systemd/system"):
        # no systemd running (containers, minimal VMs): report the unit files only
        names: set[str] = set()
        for folder in ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"):
            try:
                names.update(n for n in os.listdir(folder) if n.endswith(".service"))
            except OSError:
                continue
        with contextlib.suppress(OSError):
            names.update(f"{n}.service" for n in os.listdir("/etc/init.d"))
        return [
            Service(
                name=n.removesuffix(".service"), display_name="", state="unknown", start_type=""
            )
            for n in sorted(names)
        ]
    result = probe.run(
        [
            "systemctl",
            "list-units",
            "--type=service",
            "--all",
            "--no-legend",
            "--plain",
            "--no-pager",
        ],
        timeout=2.0,
    )
    out = []
    for line in result.stdout.splitlines():
        parts = line.split(None, 4)
        if len(parts) >= 4:
            out.append(
                Service(
                    name=parts[0].removesuffix(".service"),
                    display_name=parts[4] if len(parts) > 4 else "",
                    state="running" if parts[3] == "running" else parts[3],
                    start_type="",
                )
            )
    return out


def _windows_services() -> list[Service]:
    """Services from the Windows service manager (psutil wraps EnumServicesStatusEx)."""
    out = []
    for svc in psutil.win_service_iter():  # type: ignore[attr-defined,unused-ignore]
        try:
            info = svc.as_dict()
        except (psutil.Error, OSError):
            continue
        out.append(
            Service(
                name=str(info.get("name", "")),
                display_name=str(info.get("display_name", "")),
                state=str(info.get("status", "")),
                start_type=str(info.get("start_type", "")),
                binpath=str(info.get("binpath", "")),
                pid=info.get("pid"),
            )
        )
    return out
