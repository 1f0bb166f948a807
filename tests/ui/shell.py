"""The tray face as tests build it: a real AgentRuntime behind a real TrayApp (offscreen)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tests.fakes.probe_recorded import RecordedProbe
from vxassist.cliutil import Context
from vxassist.remote.consent import DenyPrompter
from vxassist.runtime import AgentRuntime
from vxassist.settings import Settings
from vxassist.sysinfo.report import collect_report
from vxassist.ui.app import TrayApp


def recorded_report() -> Any:
    return collect_report(Settings(), probe=RecordedProbe("debian-vxtracker-mariadb-postgres"))


def runtime_factory(ctx: Context) -> Callable[[Any, Callable[[Mapping[str, Any]], None]], Any]:
    def make(prompter: Any, emit: Callable[[Mapping[str, Any]], None]) -> AgentRuntime:
        return AgentRuntime(
            ctx,
            prompter,
            emit,
            face="tray",
            case_check_every_s=0.5,
            collect_report=recorded_report,
        )

    return make


@contextmanager
def tray_app(use_tray: bool = False) -> Iterator[TrayApp]:
    """A started TrayApp with the deny prompter; stopped (sessions ended) afterwards."""
    ctx = Context.create()
    app = TrayApp(ctx, runtime_factory(ctx), DenyPrompter(), use_tray=use_tray)
    app.start()
    try:
        yield app
    finally:
        app.windows.close_all()
        if app.home is not None:
            app.home.hide()
        if app.tray is not None:
            app.tray.hide()
        app.bridge.stop(30.0)
