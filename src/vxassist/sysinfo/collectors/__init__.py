"""The collectors of the system report, one small class per section."""

from __future__ import annotations

from vxassist.sysinfo.collectors.base import CollectContext, Collector
from vxassist.sysinfo.collectors.databases import DatabasesCollector
from vxassist.sysinfo.collectors.software import SoftwareCollector
from vxassist.sysinfo.collectors.system import (
    DisksCollector,
    HardwareCollector,
    NetworkCollector,
    OsCollector,
    PortsCollector,
    TimeCollector,
)
from vxassist.sysinfo.collectors.vxtracker import PbxCollector, VxTrackerCollector

#: one collector per section, in report order
ALL_COLLECTORS: tuple[type[Collector], ...] = (
    OsCollector,
    HardwareCollector,
    DisksCollector,
    NetworkCollector,
    PortsCollector,
    DatabasesCollector,
    VxTrackerCollector,
    PbxCollector,
    SoftwareCollector,
    TimeCollector,
)

__all__ = ["ALL_COLLECTORS", "CollectContext", "Collector"]
