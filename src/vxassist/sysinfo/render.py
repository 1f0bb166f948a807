"""The readable summary of a report (what ``vxassist sysinfo`` prints by default)."""

from __future__ import annotations

import re
from typing import Any

from vxassist.sysinfo.model import Report

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _size(n: int | float | None) -> str:
    if not n:
        return "0 B"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} TiB"


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _lines(name: str, d: dict[str, Any]) -> list[str]:
    if name == "os":
        return [
            f"{d.get('distribution') or d.get('system')} ({d.get('release')}, "
            f"{d.get('machine')}), host {d.get('hostname')}, up {d.get('uptime_s', 0) // 3600} h"
        ]
    if name == "hardware":
        machine = f"{d.get('manufacturer', '')} {d.get('model', '')}".strip()
        if d.get("hypervisor") and d["hypervisor"].lower() not in machine.lower():
            machine = f"{machine} (virtual, {d['hypervisor']})".strip()
        return [
            (f"{machine}: " if machine else "")
            + f"{d.get('cpu_model')} x{d.get('cpu_logical')}, memory "
            f"{_size(d.get('memory_available'))} free of {_size(d.get('memory_total'))}"
        ]
    if name == "disks":
        return [
            f"{v['mountpoint']} {_size(v['free'])} free of {_size(v['total'])} "
            f"({v['free_percent']} %)" + ("  LOW SPACE" if v["low_space"] else "")
            for v in d.get("volumes", [])
        ]
    if name == "network":
        return [
            f"{i['name']}: {', '.join(i['addresses']) or '-'}" + ("" if i["up"] else " (down)")
            for i in d.get("interfaces", [])
        ]
    if name == "ports":
        return [
            f"{p['proto']} {_endpoint(p['address'], p['port'])} {p['process'] or '?'}"
            for p in d.get("listening", [])
        ]
    if name == "databases":
        out = []
        for s in d.get("servers", []):
            where = ", ".join(s.get("listening", [])) or "not listening"
            service = s.get("service")
            state = f", service {service['name']} {service['state']}" if service else ""
            instance = f" instance {s['instance']}" if s.get("instance") else ""
            out.append(
                f"{s['product']} {s.get('version') or '(version unknown)'}{instance} "
                f"[{where}]{state}"
            )
        if not out:
            out.append("no database server found")
        out += [f"{p['note']} ({p['address']})" for p in d.get("ports_without_server", [])]
        out += [f"ODBC {o['name']}: {o.get('Driver', '')}" for o in d.get("odbc_sources", [])]
        return out or ["no database server found"]
    if name == "vxtracker":
        if not d.get("installed"):
            return ["not found on this machine"]
        out = [f"version {d.get('version') or 'unknown'} in {', '.join(d.get('install_dirs', []))}"]
        out += [f"service {s['name']}: {s['state']}" for s in d.get("services", [])]
        out += [f"process {p['name']} (pid {p['pid']})" for p in d.get("processes", [])]
        out.append(
            f"{len(d.get('config_files', []))} config files, "
            f"{len(d.get('log_files', []))} log files"
        )
        return out
    if name == "pbx":
        out = [f"{d.get('manufacturer') or 'manufacturer unknown'} {d.get('model') or ''}".strip()]
        out += [f"serial {p['name']}" for p in d.get("serial_ports", [])]
        out += [
            f"CDR peer {p['peer']}:{p['peer_port']} -> local port {p['local_port']}"
            for p in d.get("tcp_peers", [])
        ]
        last = d.get("last_record")
        if last:
            out.append(f"newest call record {last['modified']} ({last['age_s']} s ago)")
        return out
    if name == "software":
        return [f"{d.get('count', 0)} packages ({d.get('source')})"]
    if name == "time":
        sync = {True: "synchronized", False: "NOT synchronized", None: "sync unknown"}[
            d.get("synchronized")
        ]
        return [
            f"{d.get('timezone')} (UTC{d.get('utc_offset_s', 0) / 3600:+g}), clock {sync}"
            + (f" via {d['sync_source']}" if d.get("sync_source") else "")
        ]
    return []


def summary(report: Report) -> str:
    """A few lines per section, statuses first."""
    out = [
        f"System report for {report.host} at {report.generated_at}"
        + (" (anonymized)" if report.anonymized else "")
    ]
    for name, section in report.sections.items():
        head = f"[{section.status}] {name}"
        if not section.has_data:
            out.append(f"{head}: {section.reason}")
            continue
        out.append(f"{head}: {section.reason}" if section.reason else head)
        out += [f"    {line}" for line in _lines(name, section.data)]
    redacted = sum(1 for m in report.manifest if m.action == "redacted")
    out.append(
        f"{len(report.manifest)} manifest items, {redacted} with secrets removed; "
        f"collected in {report.duration_ms:.0f} ms"
    )
    # process names, paths and configs come from the machine: no terminal escapes
    return _CONTROL.sub("?", "\n".join(out))
