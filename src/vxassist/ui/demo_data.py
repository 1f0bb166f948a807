"""Realistic data for pictures of the case windows (``scripts/screenshots.py``) and demos.

``DemoBridge`` answers the windows' jobs from a ``DemoRuntime`` on the GUI
thread's next turn, so a window can be built and shown without a desk or an
agent loop. The system report is a small made-up VXTracker host, put through
the real cleaner, so what the pictures show as removed really was.

Each ``*_window()`` function builds one window in one state and returns it,
shown and laid out, ready for ``widget.grab().save(path)``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vxassist.cases.draft import DraftStore
from vxassist.cases.intake import Submission
from vxassist.cases.outbox import Kind, OutboxItem, State
from vxassist.settings import SupportContact
from vxassist.sysinfo.cleaner import clean
from vxassist.sysinfo.model import (
    Action,
    IncludedFile,
    ManifestEntry,
    Report,
    Section,
    Status,
)
from vxassist.ui.qt import QtCore, QtWidgets

if TYPE_CHECKING:
    from vxassist.ui.request import RequestSupportWindow

_LOG_PATH = "C:\\Program Files (x86)\\Communicado\\VXTracker\\Logs\\VXTracker.log"
NOW = datetime(2026, 12, 3, 17, 5, tzinfo=UTC)

_INI = """; VXTracker server settings
[Server]
ServerName=CALLACCT01
Version=7.4.2.118
Site=Reno front office
[Database]
Provider=SQLOLEDB
ConnectionString=Server=CALLACCT01\\VXTRACKER;Database=VXCalls;User Id=vxapp;Password=Db$ecret2024;
AdminPassword = Sa-Pa55word!
[PBX]
Manufacturer=Avaya
Model=IP Office 500 V2
SmdrPort=4001
"""

_LOG = """2026-12-03 08:58:02 INFO  SMDR listener started on 0.0.0.0:4001
2026-12-03 08:58:03 INFO  connected to IP Office 500 V2 at 10.20.0.5
2026-12-03 09:14:40 WARN  SMDR record without extension field, skipped
2026-12-03 09:14:41 WARN  SMDR record without extension field, skipped
2026-12-03 09:20:07 ERROR database timeout (login vxapp, password=LogPass55)
2026-12-03 09:20:37 INFO  database connection restored
"""


def demo_report() -> Report:
    """A made-up VXTracker host on Windows, cleaned like any real report."""
    sections = [
        Section(
            "os",
            Status.OK,
            data={
                "system": "Windows",
                "distribution": "Windows Server 2019 Standard",
                "release": "10.0.17763",
                "machine": "AMD64",
                "hostname": "CALLACCT01",
                "uptime_s": 1_296_000,
            },
        ),
        Section(
            "hardware",
            Status.OK,
            data={
                "manufacturer": "Dell Inc.",
                "model": "PowerEdge T140",
                "cpu_model": "Intel Xeon E-2224 @ 3.40GHz",
                "cpu_logical": 4,
                "memory_total": 17_179_869_184,
                "memory_available": 6_442_450_944,
            },
        ),
        Section(
            "databases",
            Status.OK,
            data={
                "servers": [
                    {
                        "engine": "sqlserver",
                        "product": "Microsoft SQL Server",
                        "edition": "Express",
                        "version": "2019 (15.0.4355.3)",
                        "instance": "VXTRACKER",
                        "listening": ["0.0.0.0:1433"],
                        "service": {"name": "MSSQL$VXTRACKER", "state": "running"},
                    }
                ]
            },
        ),
        Section(
            "vxtracker",
            Status.OK,
            data={
                "installed": True,
                "install_dirs": ["C:\\Program Files (x86)\\Communicado\\VXTracker"],
                "version": "7.4.2.118",
                "services": [
                    {"name": "VXTrackerService", "state": "running", "start_type": "auto"}
                ],
                "processes": [
                    {
                        "pid": 4410,
                        "name": "VXTrackerService.exe",
                        "cmdline": [
                            "VXTrackerService.exe",
                            "/service",
                            "/dbpassword:Svc-Secret-31",
                        ],
                    }
                ],
                "config_files": [
                    {
                        "path": "C:\\Program Files (x86)\\Communicado\\VXTracker\\VXTracker.ini",
                        "bundle_name": "vxtracker/config/VXTracker.ini",
                        "encoding": "utf-8",
                        "truncated": False,
                        "text": _INI,
                    }
                ],
                "log_files": [
                    {
                        "path": _LOG_PATH,
                        "bundle_name": "vxtracker/logs/VXTracker.log",
                        "encoding": "utf-8",
                        "truncated": True,
                    }
                ],
            },
        ),
        Section(
            "pbx",
            Status.OK,
            data={
                "manufacturer": "Avaya",
                "model": "IP Office 500 V2",
                "tcp_peers": [{"peer": "10.20.0.5", "peer_port": 50_812, "local_port": 4001}],
                "last_record": {"modified": "2026-12-03T09:14:41Z", "age_s": 28_000},
            },
        ),
        Section(
            "software",
            Status.OK,
            data={
                "source": "uninstall registry keys",
                "count": 5,
                "packages": [
                    {"name": "Crystal Reports runtime (32-bit)", "version": "13.0.32.4286"},
                    {"name": "Google Chrome", "version": "131.0.6778.86"},
                    {"name": "Microsoft SQL Server 2019 (64-bit)", "version": "15.0.4355.3"},
                    {"name": "TeamViewer", "version": "15.60.3"},
                    {"name": "VXTracker", "version": "7.4.2.118"},
                ],
            },
        ),
        Section(
            "time",
            Status.OK,
            data={
                "timezone": "Pacific Standard Time",
                "utc_offset_s": -28_800,
                "synchronized": True,
            },
        ),
    ]
    files = [
        IncludedFile(
            "vxtracker",
            "C:\\Program Files (x86)\\Communicado\\VXTracker\\VXTracker.ini",
            "vxtracker/config/VXTracker.ini",
            _INI,
            "utf-8",
        ),
        IncludedFile(
            "vxtracker",
            _LOG_PATH,
            "vxtracker/logs/VXTracker.log",
            _LOG,
            "utf-8",
            truncated=True,
        ),
    ]
    manifest = [ManifestEntry(s.name, s.name, Action.COLLECTED, "collected") for s in sections]
    sections, manifest, files, _ = clean(sections, manifest, files, anonymize=False)
    return Report(
        generated_at=NOW.isoformat(timespec="seconds"),
        host="CALLACCT01",
        anonymized=False,
        sections={s.name: s for s in sections},
        manifest=tuple(manifest),
        files=tuple(files),
        duration_ms=41.0,
    )


def _case(number: int, brief: str, priority: int, status: str, hours_ago: float) -> dict[str, Any]:
    from vxassist.cases.fields import Priority

    received = NOW - timedelta(hours=hours_ago)
    return {
        "case_number": number,
        "reference": f"R-{number:06d}",
        "status": status,
        "priority": priority,
        "priority_label": Priority(priority).label,
        "received_at": received.isoformat(),
        "response_due": (received + timedelta(hours=2 if priority <= 2 else 8)).isoformat(),
        "brief": brief,
        "company": "Acme Hotels",
        "contact_name": "Bob Jones",
        "contact_phone": "+1 775 555 0100",
        "contact_email": "bob@acme.example.com",
        "install_type": "single server",
        "location": "Reno, NV",
        "database_type": "Microsoft SQL Server Express 2019",
        "vxtracker_server": "CALLACCT01, VXTracker 7.4.2.118",
        "pbx_manufacturer": "Avaya",
        "pbx_model": "IP Office 500 V2",
        "details": "Since Monday no calls from extension 200 appear in the reports.",
        "steps_taken": "Restarted the VXTracker service.",
        "escalation": None,
        "related": [],
    }


DEMO_CASES = [
    _case(1042, "Calls from the front desk are not recorded", 2, "in_progress", 3),
    _case(1038, "Monthly cost report export to Excel is empty", 3, "waiting_customer", 50),
    _case(1021, "How do I add a new department to the call reports?", 4, "resolved", 400),
]


def _history(case: dict[str, Any]) -> list[dict[str, Any]]:
    received = datetime.fromisoformat(case["received_at"])
    return [
        {
            "at": received.isoformat(),
            "kind": "received",
            "author": "Bob Jones",
            "text": f"Case {case['case_number']} received at priority {case['priority']}.",
        },
        {
            "at": (received + timedelta(minutes=34)).isoformat(),
            "kind": "status",
            "author": "jdoe",
            "text": "In progress: looking at the SMDR log you sent.",
        },
        {
            "at": (received + timedelta(minutes=52)).isoformat(),
            "kind": "update",
            "author": "jdoe",
            "text": "The PBX sends records without the extension field since "
            "Monday's firmware update. Could you check the SMDR settings on the IP Office?",
        },
        {
            "at": (received + timedelta(hours=2)).isoformat(),
            "kind": "update",
            "author": "Bob Jones",
            "text": "Checked: 'Extension' was unticked after the update. "
            "Ticked it again; calls appear from 11:10 on.",
        },
    ]


@dataclass
class DemoRuntime:
    """The case methods of ``AgentRuntime``, answered from the data above."""

    report_value: Report = field(default_factory=demo_report)
    submit_state: State = State.DELIVERED
    no_contract: bool = False
    cases: list[dict[str, Any]] = field(default_factory=lambda: [dict(c) for c in DEMO_CASES])

    async def report(self, max_age_s: float = 300) -> Report:
        return self.report_value

    async def kb_search(self, query: str) -> list[dict[str, Any]] | None:
        return None

    async def submit_case(self, fields: dict[str, Any], report_payload: Any) -> Submission:
        answer: dict[str, Any] | None = None
        if self.submit_state is State.DELIVERED:
            answer = _case(
                1043, str(fields.get("brief", "")), int(fields.get("priority", 2)), "open", 0
            )
            if self.no_contract:
                answer.update(
                    case_number=None,
                    status="no_contract",
                    reference="R-7F3K9Q",
                    message="Acme Hotels has no active maintenance contract on 2026-12-03, "
                    "so no case number was given; the request is kept as R-7F3K9Q.",
                )
        item = OutboxItem(
            id=7,
            kind=Kind.CASE,
            method="POST",
            path="/api/v1/cases",
            body=dict(fields),
            idempotency_key="demo",
            created_at=NOW,
            state=self.submit_state,
            attempts=1,
            next_attempt_at=NOW + timedelta(seconds=5),
            last_error=""
            if answer
            else "The desk at https://desk.communicado-inc.com "
            "cannot be reached; check the network and the desk address, then try again.",
            answer=answer,
        )
        return Submission(item, NOW + timedelta(hours=2))

    async def list_cases(self) -> list[dict[str, Any]]:
        return self.cases

    async def get_case(self, number: int) -> dict[str, Any]:
        case = dict(next(c for c in self.cases if c["case_number"] == number))
        case["events"] = _history(case)
        return case

    async def update_case(
        self, number: int, text: str, report_payload: Any, log_files: Any = ()
    ) -> dict[str, Any]:
        case = await self.get_case(number)
        case["report_attached"] = report_payload is not None
        case["logs_attached"] = [str(name) for name in log_files]
        return case

    async def escalate_case(self, number: int, to: str, reason: str) -> dict[str, Any]:
        case = await self.get_case(number)
        case["escalation"] = {"to": to, "reason": reason, "at": NOW.isoformat()}
        return case


class DemoBridge(QtCore.QObject):
    """``Bridge.submit`` answered from a ``DemoRuntime`` on the GUI thread's next turn."""

    event_received = QtCore.Signal(dict)

    def __init__(self, runtime: DemoRuntime | None = None) -> None:
        super().__init__()
        self.runtime = runtime or DemoRuntime()

    def submit(
        self,
        coro_factory: Callable[[Any], Awaitable[Any]],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        async def run() -> Any:
            return await coro_factory(self.runtime)

        try:
            result = asyncio.run(run())
        except Exception as exc:
            failure = exc
            if on_error is not None:
                QtCore.QTimer.singleShot(0, lambda: on_error(failure))
            return
        if on_done is not None:
            QtCore.QTimer.singleShot(0, lambda: on_done(result))


def _settle(widget: QtWidgets.QWidget, rounds: int = 20) -> None:
    app = QtWidgets.QApplication.instance()
    for _ in range(rounds):
        if app is not None:
            app.processEvents()


TYPED = {
    "company": "Acme Hotels",
    "install_type": "single server",
    "location": "Reno, NV",
    "contact_name": "Bob Jones",
    "contact_phone": "+1 775 555 0100",
    "contact_email": "bob@acme.example.com",
    "brief": "Calls from the front desk are not recorded",
    "details": "Since Monday no calls from extension 200 appear in the reports. Other "
    "extensions are fine.",
    "steps_taken": "Restarted the VXTracker service and the PC.",
    "priority": "2",
}


def _request(runtime: DemoRuntime | None = None) -> RequestSupportWindow:
    from vxassist.ui.request import RequestSupportWindow

    folder = Path(tempfile.mkdtemp(prefix="vxassist-demo-"))
    window = RequestSupportWindow(
        DemoBridge(runtime),
        SupportContact(website="https://support.communicado-inc.com"),
        DraftStore(folder),
        open_cases=lambda: None,
    )
    window.resize(820, 900)
    window.show()
    _settle(window)
    return window


def request_form_window() -> QtWidgets.QWidget:
    """The form, partly filled, with one field the customer got wrong."""
    window = _request()
    for name, text in TYPED.items():
        if name not in ("contact_email", "priority"):
            window.set_value(name, text, touched=True)
    window.set_value("contact_email", "bob@acme", touched=True)
    window.set_value("third_party_app", "Crystal Reports runtime (32-bit)", touched=True)
    window._app_picked()
    window.validate()
    _settle(window)
    return window


def request_review_window() -> QtWidgets.QWidget:
    """What will be sent: the config file with its passwords replaced, the log unticked."""
    window = _request()
    for name, text in TYPED.items():
        window.set_value(name, text, touched=True)
    window.show_review()
    window.review.set_ticked("file:vxtracker/logs/VXTracker.log", False)
    window.review.select("file:vxtracker/config/VXTracker.ini")
    _settle(window)
    return window


def _sent(runtime: DemoRuntime) -> QtWidgets.QWidget:
    window = _request(runtime)
    for name, text in TYPED.items():
        window.set_value(name, text, touched=True)
    window.show_review()
    window.send()
    _settle(window)
    return window


def request_answered_window() -> QtWidgets.QWidget:
    return _sent(DemoRuntime())


def request_queued_window() -> QtWidgets.QWidget:
    return _sent(DemoRuntime(submit_state=State.PENDING))


def request_no_contract_window() -> QtWidgets.QWidget:
    return _sent(DemoRuntime(no_contract=True))


def cases_window() -> QtWidgets.QWidget:
    """My Cases: three cases, the first one's history, and its escalation tab ready."""
    from vxassist.ui.cases_window import MyCasesWindow

    window = MyCasesWindow(DemoBridge(), SupportContact(), open_request=lambda: None)
    window.resize(940, 860)
    window.show()
    _settle(window)
    window.select(1042)
    _settle(window)
    window.update_text.setPlainText("Extension 201 is affected too since this morning.")
    return window


WINDOWS: dict[str, Callable[[], QtWidgets.QWidget]] = {
    "my-cases": cases_window,
    "request-form": request_form_window,
    "request-review": request_review_window,
    "request-answered": request_answered_window,
    "request-queued": request_queued_window,
    "request-no-contract": request_no_contract_window,
}
