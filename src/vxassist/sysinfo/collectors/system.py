"""Operating system, hardware, disks, network, listening ports and time."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from vxassist.sysinfo.collectors.base import CollectContext, Collector
from vxassist.sysinfo.model import Action, Collected
from vxassist.sysinfo.probe import ProbeError, Unsupported
from vxassist.sysinfo.textfiles import decode

#: a disk with less free space than this share is flagged
LOW_FREE_PERCENT = 10.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class OsCollector(Collector):
    section = "os"
    description = "operating system name, version, architecture, host name, uptime"

    def collect(self, ctx: CollectContext) -> Collected:
        p = ctx.platform
        data: dict[str, Any] = {
            "system": p.system,
            "distribution": p.distribution,
            "release": p.release,
            "version": p.version,
            "machine": p.machine,
            "hostname": p.hostname,
        }
        out = Collected(data)
        if ctx.windows:
            # the registry names the edition and build exactly ("Windows Server 2019
            # Standard", build 17763.5696); platform.win32_ver() says only "10"
            try:
                nt = ctx.probe.reg_values(
                    r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion",
                    ("ProductName", "CurrentBuild", "UBR", "DisplayVersion", "EditionID"),
                )
            except ProbeError as exc:
                out.note(self.section, "Windows version", Action.FAILED, str(exc))
                nt = {}
            if nt.get("ProductName"):
                data["distribution"] = str(nt["ProductName"])
            if nt.get("CurrentBuild"):
                data["build"] = f"{nt['CurrentBuild']!s}.{nt.get('UBR', 0)!s}"
            if nt.get("DisplayVersion"):
                data["display_version"] = str(nt["DisplayVersion"])
        try:
            boot = ctx.probe.boot_time()
            data["boot_time"] = _iso(boot)
            data["uptime_s"] = int(ctx.probe.now().timestamp() - boot)
        except ProbeError as exc:
            out.note(self.section, "boot_time", Action.FAILED, str(exc))
        return out


_BIOS_KEY = r"HKLM\HARDWARE\DESCRIPTION\System\BIOS"
#: words of a machine's maker or model that name the hypervisor it runs under
_HYPERVISORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("vmware",), "VMware"),
    (("virtualbox", "innotek"), "VirtualBox"),
    (("virtual machine",), "Hyper-V"),
    (("qemu", "kvm"), "KVM"),
    (("xen",), "Xen"),
    (("amazon ec2",), "Amazon EC2"),
    (("google compute engine",), "Google Compute Engine"),
    (("parallels",), "Parallels"),
    (("bochs",), "Bochs"),
)
_DMI = "/sys/class/dmi/id/"


class HardwareCollector(Collector):
    section = "hardware"
    description = "machine maker and model, processor model and count, memory and swap"

    def _machine(self, ctx: CollectContext) -> tuple[str, str, str]:
        """Maker, model, and why they are empty when they are."""
        if ctx.windows:
            bios = ctx.probe.reg_values(_BIOS_KEY, ("SystemManufacturer", "SystemProductName"))
            maker = str(bios.get("SystemManufacturer", ""))
            model = str(bios.get("SystemProductName", ""))
            why = "" if maker or model else f"maker and model unknown: {_BIOS_KEY} names none"
            return maker, model, why
        found = []
        why = ""
        for name in ("sys_vendor", "product_name"):
            try:
                found.append(decode(ctx.probe.read_bytes(_DMI + name, 256))[0].strip())
            except FileNotFoundError:
                why = (
                    f"maker and model unknown: no DMI data ({_DMI}{name} is missing; "
                    "the firmware or hypervisor provides none)"
                )
                found.append("")
            except OSError as exc:
                why = f"maker and model not readable: {_DMI}{name} ({exc.strerror or exc})"
                found.append("")
        return found[0], found[1], why

    def _hypervisor(self, ctx: CollectContext, maker: str, model: str) -> str:
        """The hypervisor this machine runs under, "" on bare metal or when unknown."""
        named = f"{maker} {model}".lower()
        for words, name in _HYPERVISORS:
            if any(w in named for w in words):
                return name
        if ctx.windows:
            return ""
        try:
            answer = ctx.probe.run(["systemd-detect-virt", "--vm"], timeout=1.0)
        except ProbeError:
            return ""
        found = answer.stdout.strip()
        return found if answer.returncode == 0 and found and found != "none" else ""

    def collect(self, ctx: CollectContext) -> Collected:
        cpu = ctx.probe.cpu()
        mem = ctx.probe.memory()
        try:
            maker, model, why = self._machine(ctx)
        except ProbeError as exc:
            maker, model, why = "", "", f"maker and model not readable: {exc}"
        hypervisor = self._hypervisor(ctx, maker, model)
        if why and hypervisor:
            why += f"; the machine is a virtual one under {hypervisor}"
        out = Collected(
            {
                "manufacturer": maker,
                "model": model,
                "hypervisor": hypervisor,
                "cpu_model": cpu.model,
                "cpu_logical": cpu.logical,
                "cpu_physical": cpu.physical,
                "cpu_mhz": round(cpu.freq_mhz) if cpu.freq_mhz else None,
                "memory_total": mem.total,
                "memory_available": mem.available,
                "swap_total": mem.swap_total,
                "swap_used": mem.swap_used,
            }
        )
        if why:
            out.short(why)
        return out


class DisksCollector(Collector):
    section = "disks"
    description = f"mounted volumes, size and free space (flagged under {LOW_FREE_PERCENT:g} %)"

    def collect(self, ctx: CollectContext) -> Collected:
        disks = []
        low = []
        for d in ctx.probe.disks():
            free_pct = round(100.0 * d.free / d.total, 1) if d.total else 0.0
            flagged = free_pct < LOW_FREE_PERCENT
            if flagged:
                low.append(d.mountpoint)
            disks.append(
                {
                    "device": d.device,
                    "mountpoint": d.mountpoint,
                    "fstype": d.fstype,
                    "total": d.total,
                    "used": d.used,
                    "free": d.free,
                    "free_percent": free_pct,
                    "low_space": flagged,
                }
            )
        return Collected({"volumes": disks, "low_space": low})


class NetworkCollector(Collector):
    section = "network"
    description = "network interfaces, their addresses, state and speed"

    def collect(self, ctx: CollectContext) -> Collected:
        interfaces = [
            {
                "name": i.name,
                "addresses": list(i.addresses),
                "mac": i.mac,
                "up": i.is_up,
                "speed_mbps": i.speed_mbps,
            }
            for i in ctx.probe.interfaces()
        ]
        return Collected({"hostname": ctx.platform.hostname, "interfaces": interfaces})


class PortsCollector(Collector):
    section = "ports"
    description = (
        "listening TCP and bound UDP sockets and the process behind each (program and "
        "command line only for VXTracker and database servers)"
    )

    def collect(self, ctx: CollectContext) -> Collected:
        out = Collected()
        snap = ctx.snapshot_for(out, "sockets", "processes")
        if "sockets" in snap.errors:
            out.note(self.section, "sockets", Action.FAILED, snap.errors["sockets"])
        listening = []
        # other processes by name and owner only: their command lines are not ours to send
        subjects = ctx.subject_pids()
        seen: set[tuple[str, str, int, int | None]] = set()
        for s in snap.sockets:
            bound = s.status == "LISTEN" or (s.proto.startswith("udp") and not s.raddr)
            key = (s.proto, s.laddr, s.lport, s.pid)
            if not bound or key in seen:
                continue
            seen.add(key)
            proc = ctx.process(s.pid)
            entry: dict[str, Any] = {
                "proto": s.proto,
                "address": s.laddr,
                "port": s.lport,
                "pid": s.pid,
                "process": proc.name if proc else "",
                "user": proc.username if proc else "",
            }
            if proc and proc.pid in subjects:
                entry["exe"] = proc.exe
                entry["cmdline"] = list(proc.cmdline)
            listening.append(entry)
        unowned = sum(1 for e in listening if e["pid"] is None)
        if unowned:
            many = unowned > 1
            out.short(
                f"{unowned} listening socket{'s' if many else ''} show{'' if many else 's'} "
                "no owning process (another account's, which only an administrator sees, "
                "or another container's)"
            )
        listening.sort(key=lambda e: (e["proto"], e["port"], e["address"]))
        out.data = {"listening": listening}
        return out


_W32TM_SOURCE = re.compile(r"(?im)^\s*Source:\s*(.+?)\s*$")
_W32TM_LAST = re.compile(r"(?im)^\s*Last Successful Sync Time:\s*(.+?)\s*$")
_UNSYNCED_SOURCES = ("local cmos clock", "free-running system clock", "vm ic time")


class TimeCollector(Collector):
    section = "time"
    description = "local time, time zone, and whether the clock is synchronised"
    budget_s = 4.0

    def collect(self, ctx: CollectContext) -> Collected:
        now = ctx.probe.now()
        out = Collected({"utc_now": now.astimezone(UTC).isoformat(timespec="seconds")})
        if ctx.windows:
            self._windows(ctx, out)
        else:
            tz = ctx.probe.timezone()
            out.data["timezone"] = tz.name
            out.data["utc_offset_s"] = tz.utc_offset_s
            sync = ctx.probe.clock_sync()
            daemons = sorted(
                {
                    p.name
                    for p in ctx.snapshot_for(out, "processes").processes
                    if p.name in ("chronyd", "ntpd", "systemd-timesyncd", "openntpd", "ptp4l")
                }
            )
            out.data["synchronized"] = sync.synchronized
            out.data["sync_source"] = sync.source
            out.data["sync_detail"] = sync.detail
            out.data["sync_daemons"] = daemons
        return out

    def _windows(self, ctx: CollectContext, out: Collected) -> None:
        probe = ctx.probe
        tzkey = probe.reg_values(r"HKLM\SYSTEM\CurrentControlSet\Control\TimeZoneInformation")
        tz = probe.timezone()
        out.data["timezone"] = str(tzkey.get("TimeZoneKeyName", "") or tz.name)
        out.data["utc_offset_s"] = tz.utc_offset_s
        params = probe.reg_values(r"HKLM\SYSTEM\CurrentControlSet\Services\W32Time\Parameters")
        out.data["sync_type"] = str(params.get("Type", ""))
        out.data["ntp_server"] = str(params.get("NtpServer", ""))
        running = any(s.name.lower() == "w32time" and s.state == "running" for s in ctx.services())
        out.data["w32time_running"] = running
        synchronized: bool | None = None
        try:
            status = probe.run(["w32tm", "/query", "/status"], timeout=2.0)
        except (ProbeError, Unsupported) as exc:
            out.note(self.section, "w32tm /query /status", Action.FAILED, str(exc))
        else:
            source = _W32TM_SOURCE.search(status.stdout)
            last = _W32TM_LAST.search(status.stdout)
            out.data["sync_source"] = source.group(1) if source else ""
            out.data["last_sync"] = last.group(1) if last else ""
            if status.returncode == 0 and source:
                synchronized = not source.group(1).lower().startswith(_UNSYNCED_SOURCES)
            else:
                synchronized = False if not running else None
        out.data["synchronized"] = synchronized
