"""Database servers on the host, any engine, found by service, process and port.

Versions come only from what needs no credentials: the server binary's
``--version``, the registry, ``PG_VERSION`` in the data folder, or the greeting
a server sends on connect (the MySQL/MariaDB handshake). No database password is
ever read: ODBC data sources are read through a list of harmless value names.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from vxassist.sysinfo.collectors.base import CollectContext, Collector
from vxassist.sysinfo.collectors.software import DPKG_STATUS, parse_dpkg_status
from vxassist.sysinfo.model import Action, Collected
from vxassist.sysinfo.probe import ProbeError, ProcessInfo, Service, Socket
from vxassist.sysinfo.rules import EngineRule, matches
from vxassist.sysinfo.textfiles import decode

_SQL = r"HKLM\SOFTWARE\Microsoft\Microsoft SQL Server"
#: the 64-bit registry view, then the 32-bit one
_SQL_VIEWS = (_SQL, r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Microsoft SQL Server")
#: SQL Server's release names by version (major, or major.minor where they differ)
_SQL_RELEASES = {
    "9": "2005",
    "10.0": "2008",
    "10.50": "2008 R2",
    "11": "2012",
    "12": "2014",
    "13": "2016",
    "14": "2017",
    "15": "2019",
    "16": "2022",
    "17": "2025",
}
_ODBC_KEYS = (r"HKLM\SOFTWARE\ODBC\ODBC.INI", r"HKLM\SOFTWARE\WOW6432Node\ODBC\ODBC.INI")
#: the only ODBC data source values read; a password value is never asked for
_ODBC_SAFE = ("Driver", "Description", "Server", "Database", "DBQ", "Port", "Host", "Servername")
_VERSION_ARGS = {"postgresql": ["--version"], "mysql": ["--version"], "firebird": ["-z"]}
#: what an engine's own ``--version`` names (anything else answered for another program)
_VERSION_NAMES = {"postgresql": ("postgres",), "mysql": ("mysql", "mariadb")}
_BANNER_TIMEOUT_S = 0.5
_VERSION_TIMEOUT_S = 2.0
_VERSION_ALLOWANCE_S = 2.5
_LOCAL_FOR = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@dataclass
class Instance:
    engine: str
    product: str
    instance: str = ""
    version: str = ""
    version_source: str = ""
    edition: str = ""
    #: the release name customers and vendors use (SQL Server "2019" for 15.x)
    release: str = ""
    found_by: set[str] = field(default_factory=set)
    pids: list[int] = field(default_factory=list)
    ports: set[tuple[str, int]] = field(default_factory=set)
    service: Service | None = None
    exe: str = ""
    cmdline: tuple[str, ...] = ()
    data_dir: str = ""
    notes: list[str] = field(default_factory=list)
    #: seen only as an open port whose owner is hidden: an engine only if it greets as one
    unconfirmed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "engine": self.engine,
            "product": self.product,
            "instance": self.instance,
            "version": self.version,
            "version_source": self.version_source,
            "found_by": sorted(self.found_by),
            "listening": [
                f"{a}:{p}" if ":" not in a else f"[{a}]:{p}" for a, p in sorted(self.ports)
            ],
            "pids": sorted(self.pids),
        }
        if self.release:
            out["release"] = self.release
        if self.edition:
            out["edition"] = self.edition
        if self.service:
            out["service"] = {
                "name": self.service.name,
                "state": self.service.state,
                "start_type": self.service.start_type,
            }
        if self.exe:
            out["exe"] = self.exe
        if self.data_dir:
            out["data_dir"] = self.data_dir
        if self.notes:
            out["notes"] = self.notes
        return out


def parse_mysql_handshake(data: bytes) -> str | None:
    """The server version from a MySQL/MariaDB initial handshake packet, if it is one."""
    if len(data) < 6:
        return None
    payload = data[4:]
    if payload[0] == 10:
        end = payload.find(b"\0", 1)
        if end > 1:
            version = payload[1:end].decode("ascii", "replace")
            return version.removeprefix("5.5.5-")  # MariaDB's replication-compat prefix
    return None


def _arg_after(cmdline: tuple[str, ...], names: tuple[str, ...]) -> str:
    for i, arg in enumerate(cmdline):
        for name in names:
            if arg == name and i + 1 < len(cmdline):
                return cmdline[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
            if not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                return arg[len(name) :]
    return ""


def sql_server_release(version: str) -> str:
    """SQL Server's release name for a version ("2019" for 15.0.4355.3); "" if unknown."""
    parts = version.split(".")
    if len(parts) >= 2 and f"{parts[0]}.{parts[1]}" in _SQL_RELEASES:
        return _SQL_RELEASES[f"{parts[0]}.{parts[1]}"]
    return _SQL_RELEASES.get(parts[0], "") if parts[0] != "10" else "2008"


def _linux_package(ctx: CollectContext, name: str) -> str:
    """The installed version of package ``name`` (dpkg, else rpm); "" if not installed."""

    def installed() -> dict[str, str]:
        try:
            raw = ctx.probe.read_bytes(DPKG_STATUS, 64 * 1024 * 1024)
        except OSError:
            raw = None
        if raw is not None:
            text = raw.decode("utf-8", "replace")
            return {p["name"]: p["version"] for p in parse_dpkg_status(text)}
        return {}

    found = ctx.shared("dpkg-packages", installed).get(name, "")
    if found or ctx.windows:
        return found
    try:
        answer = ctx.probe.run(["rpm", "-q", "--qf", "%{VERSION}", name], timeout=1.0)
    except ProbeError:
        return ""
    return answer.stdout.strip() if answer.returncode == 0 else ""


def _port_note(address: str, port: int, owner: str | None, label: str) -> dict[str, Any]:
    if owner is None:
        note = f"port {port} open, owner unknown"
    else:
        note = f"port {port} open, owned by {owner}, which is not a {label} server"
    return {"port": port, "address": address, "owner": owner or "", "note": note}


#: names one installed server answers to (systemd unit aliases)
_UNIT_ALIASES = {"mysql": frozenset({"mariadb", "mysql", "mysqld"})}
#: where the distributions' packages keep an engine's data
_PACKAGED_DATA = {
    "mysql": ("/var/lib/mysql",),
    "postgresql": ("/var/lib/postgresql/", "/var/lib/pgsql/"),
}
_DATA_DIR_OPTIONS = {"mysql": ("--datadir",), "postgresql": ("-D", "--data-directory")}


def _aliases(engine: str, first: str, second: str) -> bool:
    names = _UNIT_ALIASES.get(engine, frozenset())
    return first.lower() in names and second.lower() in names


def _data_dir(engine: str, cmdline: tuple[str, ...]) -> str:
    options = _DATA_DIR_OPTIONS.get(engine)
    return _arg_after(cmdline, options) if options else ""


def _own_data_folder(engine: str, inst: Instance) -> bool:
    """Whether ``inst`` runs from a data folder other than its package's."""
    packaged = _PACKAGED_DATA.get(engine)
    return bool(packaged and inst.data_dir and not inst.data_dir.startswith(packaged))


class DatabasesCollector(Collector):
    section = "databases"
    description = (
        "database servers (SQL Server, MySQL/MariaDB, PostgreSQL, Oracle, Firebird) by "
        "service, process and port, with their version; ODBC/Access data sources"
    )
    budget_s = 4.0

    def collect(self, ctx: CollectContext) -> Collected:
        out = Collected()
        snap = ctx.snapshot_for(out, "processes", "sockets")
        try:
            services = ctx.services()
        except ProbeError as exc:
            services = []
            out.note(self.section, "services", Action.FAILED, str(exc))
        listeners = [s for s in snap.sockets if s.status == "LISTEN"]
        # version probes share one allowance, so ten servers cannot eat the budget
        deadline = time.monotonic() + _VERSION_ALLOWANCE_S
        instances: list[Instance] = []
        #: open ports of an engine that no server of that engine was found behind
        unmatched: list[dict[str, Any]] = []
        for rule in ctx.rules.engines:
            instances += self._engine(ctx, rule, snap.processes, listeners, services, unmatched)
        if ctx.windows:
            self._sql_server_registry(ctx, instances, services, out)
            self._oracle_registry(ctx, instances)
        for inst in instances:
            self._version(ctx, inst, out, deadline)
        for inst in [i for i in instances if i.unconfirmed]:
            if inst.version:
                inst.found_by.add("banner")
                continue
            instances.remove(inst)
            for address, port in sorted(inst.ports):
                unmatched.append(_port_note(address, port, None, ""))
        odbc = self._odbc(ctx, out)
        for source in odbc:
            target = (source.get("DBQ") or "").lower()
            if "access" in source.get("Driver", "").lower() or target.endswith((".mdb", ".accdb")):
                access = Instance(engine="access", product="Microsoft Access (file)")
                access.found_by.add("odbc")
                access.instance = source.get("DBQ", "")
                access.notes.append(f"ODBC data source {source['name']}")
                instances.append(access)
        out.data = {
            "servers": [i.to_dict() for i in instances],
            "odbc_sources": odbc,
            "engines_found": sorted({i.engine for i in instances}),
            "ports_without_server": sorted(unmatched, key=lambda e: (e["port"], e["address"])),
        }
        return out

    # -- discovery -----------------------------------------------------------------

    def _engine(
        self,
        ctx: CollectContext,
        rule: EngineRule,
        processes: tuple[ProcessInfo, ...],
        listeners: list[Socket],
        services: list[Service],
        unmatched: list[dict[str, Any]],
    ) -> list[Instance]:
        mine = {p.pid: p for p in processes if matches(p.name, rule.process_names)}

        def root_of(pid: int) -> int:
            seen = set()
            while mine[pid].ppid in mine and pid not in seen:
                seen.add(pid)
                pid = mine[pid].ppid
            return pid

        by_root: dict[int, Instance] = {}
        for pid in mine:
            root = root_of(pid)
            inst = by_root.get(root)
            if inst is None:
                top = mine[root]
                inst = Instance(
                    engine=rule.key, product=rule.label, exe=top.exe, cmdline=top.cmdline
                )
                inst.data_dir = _data_dir(rule.key, top.cmdline)
                by_root[root] = inst
            inst.pids.append(pid)
            inst.found_by.add("process")
        pid_root = {pid: root_of(pid) for pid in mine}
        hidden: list[Socket] = []
        for sock in listeners:
            if sock.pid in pid_root:
                inst = by_root[pid_root[sock.pid]]
                inst.ports.add((sock.laddr, sock.lport))
                if sock.lport in rule.ports:
                    inst.found_by.add("port")
            elif sock.lport in rule.ports:
                # a port alone is not an engine: another program may hold it, and its
                # --version would be that program's (python3 on 3306 said "3.11.2")
                owner = ctx.process(sock.pid)
                if owner is not None:
                    unmatched.append(_port_note(sock.laddr, sock.lport, owner.name, rule.label))
                else:
                    hidden.append(sock)
        for sock in listeners:
            # the server binary is the process that listens, not a wrapper above it
            # (mysqld_safe starts mysqld; asking the wrapper for --version misleads)
            if sock.pid in pid_root and sock.pid != pid_root[sock.pid]:
                inst = by_root[pid_root[sock.pid]]
                inst.exe, inst.cmdline = mine[sock.pid].exe, mine[sock.pid].cmdline
        result = list(by_root.values())
        self._hidden_owners(rule, hidden, by_root, result, unmatched)
        # units with a pid first: they say for certain which server they start
        for svc in sorted(services, key=lambda s: s.pid is None):
            if svc.name.endswith("@") or not matches(svc.name, rule.service_names):
                continue
            linked = next((i for i in result if svc.pid is not None and svc.pid in i.pids), None)
            # a unit with no pid may be any server of the engine, but not one that
            # runs from a data folder of its own (a restore started by hand, say)
            packaged = [i for i in by_root.values() if not _own_data_folder(rule.key, i)]
            running = svc.state in ("running", "unknown")
            if linked is None and svc.pid is None and len(by_root) == 1 and packaged and running:
                # one running server and one service of the same engine: the same thing
                linked = packaged[0]
            if linked is None and svc.pid is None:
                alias = next(
                    (
                        i
                        for i in result
                        if i.service and _aliases(rule.key, i.service.name, svc.name)
                    ),
                    None,
                )
                if alias is not None:
                    alias.notes.append(
                        f"service {svc.name}: {svc.state} (another name of this server)"
                    )
                    continue
                if packaged:
                    # e.g. Debian's umbrella "postgresql" unit beside "postgresql@15-main"
                    packaged[0].notes.append(f"service {svc.name}: {svc.state}")
                    continue
            if linked is not None and linked.service is not None and linked.service != svc:
                also = " (another name of this server)"
                if not _aliases(rule.key, linked.service.name, svc.name):
                    also = ""
                linked.notes.append(f"service {svc.name}: {svc.state}{also}")
                continue
            if linked is None:
                linked = Instance(engine=rule.key, product=rule.label)
                result.append(linked)
            linked.service = svc
            linked.found_by.add("service")
            if rule.key == "sqlserver":
                linked.instance = svc.name.split("$", 1)[1] if "$" in svc.name else "MSSQLSERVER"
        return result

    def _hidden_owners(
        self,
        rule: EngineRule,
        hidden: list[Socket],
        by_root: dict[int, Instance],
        result: list[Instance],
        unmatched: list[dict[str, Any]],
    ) -> None:
        """Open engine ports whose owner this account cannot see (another user's
        socket without administrator rights)."""
        if not hidden:
            return
        if len(by_root) == 1:
            # one server of the engine runs: its port, though the owner is hidden
            inst = next(iter(by_root.values()))
            for sock in hidden:
                inst.ports.add((sock.laddr, sock.lport))
                inst.notes.append(f"port {sock.lport}: owner not visible to this account")
            inst.found_by.add("port")
            return
        if rule.key == "mysql":
            # the server's own greeting can still say what it is
            probe = Instance(engine=rule.key, product=rule.label, unconfirmed=True)
            probe.found_by.add("port")
            probe.ports = {(s.laddr, s.lport) for s in hidden}
            result.append(probe)
            return
        for sock in hidden:
            unmatched.append(_port_note(sock.laddr, sock.lport, None, rule.label))

    def _sql_server_registry(
        self,
        ctx: CollectContext,
        instances: list[Instance],
        services: list[Service],
        out: Collected,
    ) -> None:
        seen: set[str] = set()
        for base, name, raw_ident in (
            (view, name, ident)
            for view in _SQL_VIEWS
            for name, ident in ctx.probe.reg_values(view + r"\Instance Names\SQL").items()
        ):
            # a 32-bit SQL Server on 64-bit Windows registers under WOW6432Node only
            if name.lower() in seen:
                continue
            seen.add(name.lower())
            ident = str(raw_ident)
            setup = ctx.probe.reg_values(rf"{base}\{ident}\Setup")
            inst = next(
                (i for i in instances if i.engine == "sqlserver" and i.instance == name), None
            )
            if inst is None:
                inst = Instance(engine="sqlserver", product="Microsoft SQL Server", instance=name)
                instances.append(inst)
            inst.found_by.add("registry")
            inst.version = str(setup.get("PatchLevel") or setup.get("Version") or "")
            inst.version_source = "registry" if inst.version else ""
            inst.release = sql_server_release(inst.version)
            inst.edition = str(setup.get("Edition", ""))
            tcp = ctx.probe.reg_values(rf"{base}\{ident}\MSSQLServer\SuperSocketNetLib\Tcp\IPAll")
            port = str(tcp.get("TcpPort") or tcp.get("TcpDynamicPorts") or "")
            if port:
                inst.notes.append(f"configured TCP port {port}")
            inst.data_dir = str(setup.get("SQLDataRoot", ""))
        # a port-only 1433 entry for an instance the registry names is the same server
        for stray in [i for i in instances if i.engine == "sqlserver" and not i.instance]:
            owner = next(
                (
                    i
                    for i in instances
                    if i.engine == "sqlserver" and i.instance and set(stray.pids) & set(i.pids)
                ),
                None,
            )
            if owner:
                owner.ports |= stray.ports
                owner.found_by |= stray.found_by
                instances.remove(stray)

    def _oracle_registry(self, ctx: CollectContext, instances: list[Instance]) -> None:
        for sub in ctx.probe.reg_subkeys(r"HKLM\SOFTWARE\ORACLE"):
            if not sub.upper().startswith("KEY_"):
                continue
            values = ctx.probe.reg_values(rf"HKLM\SOFTWARE\ORACLE\{sub}")
            home = str(values.get("ORACLE_HOME", ""))
            inst = next((i for i in instances if i.engine == "oracle"), None)
            if inst is None:
                inst = Instance(engine="oracle", product="Oracle Database")
                instances.append(inst)
            inst.found_by.add("registry")
            inst.instance = str(values.get("ORACLE_SID", "") or sub)
            inst.data_dir = home
            # Oracle's installer names the home after the release: ...\product\19.0.0\dbhome_1
            release = re.search(r"(?i)[\\/]product[\\/](\d+(?:\.\d+)+)[\\/]", home)
            if release and not inst.version:
                inst.version, inst.version_source = release.group(1), "ORACLE_HOME path"

    # -- versions ------------------------------------------------------------------

    def _version(
        self, ctx: CollectContext, inst: Instance, out: Collected, deadline: float
    ) -> None:
        if inst.version:
            return
        if time.monotonic() >= deadline:
            inst.notes.append("version not probed: the time allowed for version probes ran out")
            return
        if inst.engine == "sqlserver" and not ctx.windows:
            # SQL Server on Linux answers no --version; its package says what it is
            package = _linux_package(ctx, "mssql-server")
            if package:
                inst.version = package.split(":")[-1].split("-")[0]
                inst.version_source = "package mssql-server"
                inst.release = sql_server_release(inst.version)
                return
        if inst.engine == "postgresql" and inst.cmdline:
            data_dir = _arg_after(inst.cmdline, ("-D", "--data-directory"))
            if data_dir:
                inst.data_dir = data_dir
                try:
                    raw = ctx.probe.read_bytes(ctx.join(data_dir, "PG_VERSION"), 64)
                    inst.version = decode(raw)[0].strip()
                    inst.version_source = "PG_VERSION"
                except OSError as exc:
                    inst.notes.append(f"PG_VERSION not readable ({exc.strerror or exc})")
        if inst.engine == "mysql":
            for addr, port in sorted(inst.ports):
                host = _LOCAL_FOR.get(addr, addr)
                try:
                    wait = min(_BANNER_TIMEOUT_S, max(0.05, deadline - time.monotonic()))
                    version = parse_mysql_handshake(ctx.probe.banner(host, port, wait))
                except ProbeError as exc:
                    inst.notes.append(str(exc))
                    continue
                if version:
                    inst.version, inst.version_source = version, f"handshake on port {port}"
                    if "mariadb" in version.lower():
                        inst.product = "MariaDB"
                    return
        args = _VERSION_ARGS.get(inst.engine)
        if args and inst.exe:
            try:
                wait = min(_VERSION_TIMEOUT_S, max(0.05, deadline - time.monotonic()))
                result = ctx.probe.run([inst.exe, *args], timeout=wait)
            except ProbeError as exc:
                out.note(self.section, f"{inst.exe} {' '.join(args)}", Action.FAILED, str(exc))
                result = None
            line = (result.stdout or result.stderr).strip().splitlines() if result else []
            found = re.search(r"\d+\.\d+(?:\.\d+)?(?:[-.\w]*)", line[0]) if line else None
            names = _VERSION_NAMES.get(inst.engine, ())
            if found and names and not any(n in line[0].lower() for n in names):
                # not the engine's own answer (a wrapper, an interpreter): no version
                inst.notes.append(f"{ctx.basename(inst.exe)} --version did not name the engine")
                found = None
            if result and result.returncode == 0 and found:
                inst.version = found.group(0)
                inst.version_source = f"{ctx.basename(inst.exe)} {' '.join(args)}"
                if "mariadb" in line[0].lower():
                    inst.product = "MariaDB"
        if not inst.version:
            inst.notes.append("version not available without credentials")

    # -- ODBC ----------------------------------------------------------------------

    def _odbc(self, ctx: CollectContext, out: Collected) -> list[dict[str, str]]:
        sources: list[dict[str, str]] = []
        if ctx.windows:
            for base in _ODBC_KEYS:
                for name, driver in ctx.probe.reg_values(base + r"\ODBC Data Sources").items():
                    values = ctx.probe.reg_values(rf"{base}\{name}", _ODBC_SAFE)
                    entry = {"name": name, "Driver": str(driver)}
                    entry.update({k: str(values[k]) for k in _ODBC_SAFE if k in values})
                    entry["Driver"] = str(driver)
                    sources.append(entry)
            return sources
        for path in ("/etc/odbc.ini",):
            try:
                raw = ctx.probe.read_bytes(path, 262144)
            except FileNotFoundError:
                continue
            except OSError as exc:
                out.note(self.section, path, Action.FAILED, exc.strerror or str(exc))
                continue
            current: dict[str, str] | None = None
            for line in decode(raw)[0].splitlines():
                line = line.strip()
                if line.startswith("[") and line.endswith("]"):
                    current = {"name": line[1:-1]}
                    if current["name"] != "ODBC Data Sources":
                        sources.append(current)
                elif current is not None and "=" in line:
                    key, value = (x.strip() for x in line.split("=", 1))
                    safe = next((k for k in _ODBC_SAFE if k.lower() == key.lower()), None)
                    if safe:
                        current[safe] = value
        return sources
