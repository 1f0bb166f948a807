"""Runs the collectors side by side, each within its time budget.

Each collector runs on its own daemon thread (a pool sized to the collectors),
so one that hangs on a dead network share or a stuck service manager is
recorded as timed out while the report completes; a daemon thread never keeps
the process alive after the report is printed. Failures become a reason, never
a traceback on the screen (the traceback goes to the debug log).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from vxassist.sysinfo.collectors.base import CollectContext, Collector
from vxassist.sysinfo.model import Action, Collected, ManifestEntry, Section, Status
from vxassist.sysinfo.probe import ProbeError, Unsupported

log = logging.getLogger(__name__)


@dataclass
class _Job:
    collector: Collector
    thread: threading.Thread | None = None
    result: Collected | None = None
    error: BaseException | None = None
    started: float = 0.0
    finished: float = 0.0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, Unsupported | ProbeError):
        return str(exc)
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
    return f"{type(exc).__name__}: {exc}"


def run_collectors(
    ctx: CollectContext,
    collectors: Sequence[Collector],
    budget_scale: float = 1.0,
) -> tuple[list[Section], list[ManifestEntry], list[Collected]]:
    """Sections (one per collector, in order), manifest items and raw results."""
    jobs: list[_Job] = []
    sections: dict[str, Section] = {}
    for collector in collectors:
        why = collector.skip_reason(ctx)
        if why:
            sections[collector.section] = Section(collector.section, Status.SKIPPED, why)
            continue
        job = _Job(collector)

        def work(job: _Job = job) -> None:
            try:
                job.result = job.collector.collect(ctx)
            except Exception as exc:  # one collector's failure never stops the report
                log.debug("collector %s failed", job.collector.section, exc_info=True)
                job.error = exc
            finally:
                job.finished = time.perf_counter()

        job.thread = threading.Thread(target=work, name=f"sysinfo-{collector.section}", daemon=True)
        job.started = time.perf_counter()
        job.thread.start()
        jobs.append(job)

    manifest: list[ManifestEntry] = []
    results: list[Collected] = []
    for job in jobs:
        assert job.thread is not None
        section = job.collector.section
        deadline = job.started + job.collector.budget_s * budget_scale
        job.thread.join(max(0.0, deadline - time.perf_counter()))
        if job.thread.is_alive():
            budget = job.collector.budget_s * budget_scale
            sections[section] = Section(
                section,
                Status.TIMEOUT,
                f"no answer within its budget of {budget:g} s",
                duration_ms=budget * 1000,
            )
            manifest.append(ManifestEntry(section, section, Action.FAILED, "timed out"))
            continue
        elapsed = (job.finished - job.started) * 1000
        if job.error is not None or job.result is None:
            reason = _reason(job.error) if job.error else "collector returned nothing"
            sections[section] = Section(section, Status.FAILED, reason, duration_ms=elapsed)
            manifest.append(ManifestEntry(section, section, Action.FAILED, reason))
            continue
        log.debug("section %s collected in %.1f ms", section, elapsed)
        if job.result.shortfalls:
            sections[section] = Section(
                section, Status.PARTIAL, "; ".join(job.result.shortfalls), job.result.data, elapsed
            )
        else:
            sections[section] = Section(section, Status.OK, "", job.result.data, elapsed)
        manifest.append(
            ManifestEntry(section, section, Action.COLLECTED, job.collector.description)
        )
        manifest += job.result.items
        results.append(job.result)
    for collector in collectors:
        if sections[collector.section].status is Status.SKIPPED:
            manifest.append(
                ManifestEntry(
                    collector.section,
                    collector.section,
                    Action.SKIPPED,
                    sections[collector.section].reason,
                )
            )
    ordered = [sections[c.section] for c in collectors]
    return ordered, manifest, results
