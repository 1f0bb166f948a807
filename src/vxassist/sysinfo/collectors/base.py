"""What every collector is and what it is given."""

from __future__ import annotations

import ntpath
import posixpath
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from vxassist.sysinfo.model import Collected
from vxassist.sysinfo.probe import PlatformInfo, Probe, ProcessInfo, Service, Snapshot
from vxassist.sysinfo.rules import Rules

T = TypeVar("T")


class CollectContext:
    """The probe, the rules, and facts shared by the collectors of one report.

    ``shared`` computes a fact once per report even when two collectors running
    on different threads ask for it at the same time (e.g. the VXTracker
    discovery that both the ``vxtracker`` and ``pbx`` sections use).
    """

    def __init__(self, probe: Probe, rules: Rules, platform: PlatformInfo) -> None:
        self.probe = probe
        self.rules = rules
        self.platform = platform
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._values: dict[str, Any] = {}

    @property
    def windows(self) -> bool:
        return self.platform.system == "windows"

    def shared(self, key: str, compute: Callable[[], T]) -> T:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = compute()
            value: T = self._values[key]
            return value

    def snapshot(self) -> Snapshot:
        return self.probe.snapshot()

    def snapshot_for(self, out: Collected, *parts: str) -> Snapshot:
        """The snapshot, with what it could not see of ``parts`` ("processes",
        "sockets") recorded as ``out``'s shortfalls."""
        snap = self.snapshot()
        for part in parts:
            if part in snap.errors:
                out.short(snap.errors[part])
        return snap

    def services(self) -> list[Service]:
        return self.shared("services", self.probe.services)

    def subject_pids(self) -> frozenset[int]:
        """The processes the report is about: VXTracker's (and so its PBX link) and
        the database servers'. Only these are shown with program, command line
        and environment; any other process by name and owner only."""

        def compute() -> frozenset[int]:
            processes = self.snapshot().processes
            return frozenset(p.pid for p in processes if self.rules.is_subject_process(p.name))

        return self.shared("subject_pids", compute)

    def process(self, pid: int | None) -> ProcessInfo | None:
        if pid is None:
            return None
        for proc in self.snapshot().processes:
            if proc.pid == pid:
                return proc
        return None

    def join(self, base: str, rel: str) -> str:
        """``rel`` under ``base`` in the probed machine's path syntax."""
        if rel.startswith("%") or (ntpath if self.windows else posixpath).isabs(rel):
            return self.probe.expand(rel)
        if self.windows:
            return ntpath.join(base, rel.replace("/", "\\"))
        return posixpath.join(base, rel)

    def basename(self, path: str) -> str:
        return ntpath.basename(path) if self.windows else posixpath.basename(path)

    def dirname(self, path: str) -> str:
        return ntpath.dirname(path) if self.windows else posixpath.dirname(path)


class Collector:
    """One section of the report.

    Subclasses name their ``section``, say in ``description`` what they collect,
    list the ``platforms`` they apply to, and implement ``collect``. An exception
    from ``collect`` fails this section only; running past ``budget_s`` marks it
    timed out. ``skip_reason`` may decline to run on a given machine.
    """

    section: ClassVar[str]
    description: ClassVar[str]
    platforms: ClassVar[frozenset[str]] = frozenset({"linux", "windows"})
    budget_s: ClassVar[float] = 3.0

    def skip_reason(self, ctx: CollectContext) -> str | None:
        if ctx.platform.system not in self.platforms:
            return f"does not apply to {ctx.platform.system or 'this platform'}"
        return None

    def collect(self, ctx: CollectContext) -> Collected:
        raise NotImplementedError
