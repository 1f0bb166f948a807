"""The system report: what a support engineer needs to know about a VXTracker host.

``collect_report(settings, anonymize=False) -> Report``, ``case_prefill(report)``
and ``write_bundle(report, path)`` are the API the case intake calls. They are
loaded on first use so importing the command line stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vxassist.sysinfo.model import Report
    from vxassist.sysinfo.report import case_prefill, collect_report, write_bundle

__all__ = ["Report", "case_prefill", "collect_report", "write_bundle"]


def __getattr__(name: str) -> Any:
    if name in ("case_prefill", "collect_report", "write_bundle"):
        from vxassist.sysinfo import report

        return getattr(report, name)
    if name == "Report":
        from vxassist.sysinfo.model import Report

        return Report
    raise AttributeError(name)
