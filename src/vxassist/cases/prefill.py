"""The system part of a request, filled from the system report.

``vxassist.sysinfo`` provides ``collect_report(settings, anonymize=False)`` (the
redacted report) and ``case_prefill(report) -> dict[str, str]``. When it cannot
run, the request is still made: the fields stay empty for the customer to type,
and ``reason`` says why.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vxassist.cases.fields import CASE_FIELDS
from vxassist.errors import VxError
from vxassist.settings import Settings

log = logging.getLogger(__name__)

SYSTEM_FIELDS: tuple[str, ...] = tuple(f.name for f in CASE_FIELDS if f.from_system)


@dataclass(frozen=True)
class SystemPrefill:
    report: Mapping[str, Any] | None
    fields: Mapping[str, str] = field(default_factory=dict)
    #: why there is no report, or "" when there is one
    reason: str = ""


def system_prefill(settings: Settings, anonymize: bool = False) -> SystemPrefill:
    """The redacted system report and the case fields it fills (never raises)."""
    try:
        sysinfo = importlib.import_module("vxassist.sysinfo")
        collect = sysinfo.collect_report
        to_fields = sysinfo.case_prefill
    except (ImportError, AttributeError) as exc:
        log.info("no system report: %r", exc)
        return SystemPrefill(None, {}, "the system report is not available in this version")
    try:
        report = collect(settings, anonymize=anonymize)
        filled = to_fields(report)
    except VxError as exc:
        log.warning("system report failed: %s (%s)", exc.message, exc.detail)
        return SystemPrefill(None, {}, f"the system report failed: {exc.message}")
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RuntimeError) as exc:
        log.warning("system report failed: %r", exc)
        return SystemPrefill(None, {}, f"the system report failed: {exc}")
    if not isinstance(report, Mapping):
        return SystemPrefill(None, {}, "the system report has an unexpected form")
    kept = {k: str(v) for k, v in dict(filled or {}).items() if k in SYSTEM_FIELDS and v}
    return SystemPrefill(dict(report), kept, "")
