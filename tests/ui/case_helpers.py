"""A host enrolled with a real desk, its agent runtime on the bridge, for the case windows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.desk import RunningDesk, unique_contract
from vxassist.cliutil import Context
from vxassist.paths import Paths
from vxassist.remote.consent import DenyPrompter
from vxassist.sysinfo.model import Report

RECORDED_MACHINE = "win-vxtracker-sqlserver-avaya"

#: what a customer types into the parts of the form the report cannot fill
TYPED: dict[str, str] = {
    "company": "Acme Hotels",
    "install_type": "single server",
    "location": "Reno, NV",
    "contact_name": "Bob Jones",
    "contact_phone": "+1 775 555 0100",
    "contact_email": "bob@acme.example.com",
    "brief": "Calls from the front desk are not recorded",
    "details": "Since Monday no calls from extension 200 appear in the reports.",
    "steps_taken": "Restarted the VXTracker service.",
    "priority": "2",
}


def recorded_report() -> Report:
    from tests.fakes.probe_recorded import RecordedProbe
    from vxassist.sysinfo.report import collect_report

    return collect_report(probe=RecordedProbe(RECORDED_MACHINE))


@dataclass
class Host:
    """This test's host: paths, context, the desk it is enrolled with (or not)."""

    ctx: Context
    desk: RunningDesk | None
    contract_id: str = ""

    @property
    def paths(self) -> Paths:
        return self.ctx.paths


def enroll_host(desk: RunningDesk, expires: Any = None) -> Host:
    from vxassist.cases.enroll import enroll

    contract = unique_contract(desk, expires)
    code = desk.enrollment_code(contract["contract_id"])
    ctx = Context(paths=Paths.from_env().ensure())
    enroll(ctx.paths, ctx.secrets(), desk.url, code, hostname="callacct01")
    return Host(Context(paths=ctx.paths), desk, contract["contract_id"])


def make_runtime_factory(host: Host, report: Report | None = None, collect: Any = None) -> Any:
    from vxassist.runtime import AgentRuntime

    collected = report or recorded_report()

    def make(prompter: Any, emit: Any) -> AgentRuntime:
        return AgentRuntime(
            host.ctx,
            prompter,
            emit,
            face="tray",
            collect_report=collect or (lambda: collected),
            report_every_s=3600,
            case_check_every_s=3600,
        )

    return make


@pytest.fixture
def bridge_for(qapp: Any) -> Iterator[Any]:
    """``bridge_for(host)``: a started bridge running that host's agent runtime."""
    from vxassist.ui.bridge import Bridge

    made: list[Bridge] = []

    def start(host: Host, report: Report | None = None, collect: Any = None) -> Bridge:
        bridge = Bridge(make_runtime_factory(host, report, collect), DenyPrompter())
        bridge.start()
        made.append(bridge)
        return bridge

    yield start
    for bridge in made:
        bridge.stop(15.0)


def case_at_desk(desk: RunningDesk, number: int) -> dict[str, Any]:
    """The case as the desk stored it (with its system report), seen by an engineer."""
    import uuid

    from vxassist.deskclient import DeskClient

    token = desk.add_engineer(f"eng-{uuid.uuid4().hex[:8]}")
    with DeskClient(desk.url, token, timeout=10) as client:
        return client.get_case(number)


def not_enrolled_host() -> Host:
    return Host(Context(paths=Paths.from_env().ensure()), None)


def set_support_website(host: Host, url: str) -> Host:
    from vxassist.settings import update_user_settings

    update_user_settings(host.paths, {"support": {"website": url}})
    return Host(Context(paths=host.paths), host.desk, host.contract_id)
