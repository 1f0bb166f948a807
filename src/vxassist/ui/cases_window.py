"""My Cases: this host's cases, each case's history, and what the customer can do with one.

A table (number, brief, priority, status, response due, last change) above the
selected case's page: its facts, its whole history as the desk returns it, and
three actions: add information (optionally with a fresh system report),
escalate (to the Manager of Technical Support or the local Sales Manager, with
a reason), and another issue (a problem the case also holds becomes a case of
its own that continues this one, with the same company, contact and system).

Every desk call goes through the bridge to the agent runtime; a failure is one
sentence in the window and what was typed stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vxassist.cases import sendable
from vxassist.cases.fields import CASE_FIELDS, Priority
from vxassist.cases.levels import parse_instant, priority_levels
from vxassist.cases.model import SPECS, check_fields
from vxassist.errors import VxError
from vxassist.paths import Paths
from vxassist.settings import SupportContact
from vxassist.ui.case_common import (
    ESCALATION_WORDS,
    deadline_lines,
    error_sentence,
    error_style,
    esc,
    escalation_text,
    heading,
    short_time,
    status_text,
    wrapped,
)
from vxassist.ui.qt import Qt, QtCore, QtWidgets, Signal
from vxassist.ui.review import WhatWillBeSent

log = logging.getLogger(__name__)

COLUMNS = (
    str(QtCore.QT_TRANSLATE_NOOP("MyCasesWindow", "Case")),
    str(QtCore.QT_TRANSLATE_NOOP("MyCasesWindow", "Brief description")),
    str(QtCore.QT_TRANSLATE_NOOP("MyCasesWindow", "Priority")),
    str(QtCore.QT_TRANSLATE_NOOP("MyCasesWindow", "Status")),
    str(QtCore.QT_TRANSLATE_NOOP("MyCasesWindow", "Response due")),
    str(QtCore.QT_TRANSLATE_NOOP("MyCasesWindow", "Last change")),
)
_EVENT_HTML = "<p style='margin-bottom:8px'><b>{at}</b> · {who} · <i>{kind}</i><br>{text}</p>"
#: what support wrote to the customer stands out from the rest of the history
_REPLY_HTML = (
    "<table width='100%' cellpadding='6' style='margin-bottom:8px; background-color:#e8f1fb;"
    " border-left:3px solid #2a6fb5'><tr><td><b>{at}</b> · <b>{who}</b> · <i>{kind}</i>"
    "<br>{text}</td></tr></table>"
)
#: events support writes to the customer
_FROM_SUPPORT = frozenset({"reply", "call"})
_NUMBER = Qt.ItemDataRole.UserRole + 1
_CASE = Qt.ItemDataRole.UserRole + 3
_SORT = Qt.ItemDataRole.UserRole + 2

#: fields a further issue takes over from the case it was found in
SHARED_FIELDS = tuple(
    f.name
    for f in CASE_FIELDS
    if f.name
    not in {
        "brief",
        "details",
        "steps_taken",
        "priority",
        "continues_case",
        "third_party_app",
        "third_party_version",
    }
)


def queued_cases(paths: Paths) -> list[dict[str, Any]]:
    """Requests written to this computer's outbox and not sent yet, as rows of the list.

    Blocking (reads the outbox file): run it on a thread.
    """
    from vxassist.cases.intake import open_store
    from vxassist.cases.outbox import Kind, State

    rows = []
    for item in open_store(paths).items((State.PENDING,)):
        if item.kind is not Kind.CASE:
            continue
        priority = item.body.get("priority")
        try:
            label = Priority(int(str(priority))).label
        except (TypeError, ValueError):
            label = ""
        rows.append(
            {
                "case_number": None,
                "reference": f"#{item.id}",
                "outbox_id": item.id,
                "brief": str(item.body.get("brief", "")),
                "priority": priority,
                "priority_label": label,
                "status": "queued",
                "received_at": item.created_at.isoformat(),
                "response_due": None,
                "last_error": item.last_error,
            }
        )
    return rows


def last_change(case: Mapping[str, Any]) -> str:
    """The latest time the case shows (its history, an escalation, receipt), ISO."""
    times = [case.get("updated_at"), case.get("received_at")]
    escalation = case.get("escalation")
    if isinstance(escalation, Mapping):
        times.append(escalation.get("at"))
    for event in case.get("events") or []:
        if isinstance(event, Mapping):
            times.append(event.get("at"))
    moments = [(m, t) for t in times if (m := parse_instant(t)) is not None]
    return str(max(moments)[1]) if moments else ""


class _SortItem(QtWidgets.QTableWidgetItem):
    """A cell that sorts by a key of its own (numbers, times) rather than its text."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        mine, theirs = self.data(_SORT), other.data(_SORT)
        if mine is not None and theirs is not None:
            try:
                return bool(mine < theirs)
            except TypeError:
                # a desk answer of the wrong shape ("12" beside 7): an error raised in
                # Qt's sort ends the process, so such keys sort by their text instead
                return str(mine) < str(theirs)
        return super().__lt__(other)


class MyCasesWindow(QtWidgets.QWidget):
    """This host's cases (see the module's docstring)."""

    #: the desk's answer after an update, an escalation or another issue was filed
    case_changed = Signal(object)

    def __init__(
        self,
        bridge: Any,
        support: SupportContact,
        *,
        open_request: Callable[[], None] | None = None,
        paths: Paths | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.support = support
        self.paths = paths
        self._open_request = open_request
        self.cases: list[dict[str, Any]] = []
        self.case: dict[str, Any] | None = None
        self._loading_number: int | None = None

        self.setWindowTitle(self.tr("My Cases"))
        self.setAccessibleName(self.tr("My Cases"))
        self.setWindowFlag(Qt.WindowType.Window, True)

        top = QtWidgets.QHBoxLayout()
        top.addWidget(heading(self.tr("My Cases"), self, 1.4), 1)
        if open_request is not None:
            new = QtWidgets.QPushButton(self.tr("Request Support…"), self)
            new.setAccessibleName(self.tr("Request Support"))
            new.clicked.connect(open_request)
            top.addWidget(new)
        self.refresh_button = QtWidgets.QPushButton(self.tr("Refresh"), self)
        self.refresh_button.setAccessibleName(self.tr("Refresh the list of cases"))
        self.refresh_button.clicked.connect(self.refresh)
        top.addWidget(self.refresh_button)

        self.list_status = wrapped("", self)
        self.list_status.setAccessibleName(self.tr("Case list status"))

        self.table = QtWidgets.QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels([self.tr(c) for c in COLUMNS])
        self.table.setAccessibleName(self.tr("Your cases"))
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.setTabKeyNavigation(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.setMinimumHeight(150)

        splitter = QtWidgets.QSplitter(Qt.Orientation.Vertical, self)
        splitter.addWidget(self.table)
        splitter.addWidget(self._case_page())
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(20, 16, 20, 16)
        layout.addLayout(top)
        layout.addWidget(self.list_status)
        layout.addWidget(splitter, 1)
        self.resize(940, 860)
        self.setMinimumSize(620, 520)

        events = getattr(bridge, "event_received", None)
        if events is not None:
            events.connect(self.on_event)
        self.refresh()

    def _submit(
        self,
        job: Callable[[Any], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        try:
            self.bridge.submit(job, on_done, on_error)
        except RuntimeError as exc:
            log.warning("the agent's loop is not running: %s", exc)
            from vxassist.ui.request import AgentGone

            on_error(AgentGone())

    # --- the list -----------------------------------------------------------------------

    def refresh(self) -> None:
        self.refresh_button.setEnabled(False)
        self.list_status.setText(self.tr("Asking support for your cases…"))
        paths = self.paths

        async def job(rt: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
            queued = await asyncio.to_thread(queued_cases, paths) if paths else []
            try:
                cases = await rt.list_cases()
            except VxError as exc:  # the desk is away: what waits here still shows
                return [], queued, exc
            return cases, queued, None

        self._submit(job, self._listed, self._list_failed)

    def _listed(self, result: tuple[list[dict[str, Any]], list[dict[str, Any]], Any]) -> None:
        cases, queued, error = result
        self._cases_listed(queued + cases)
        if error is not None:
            text = error_sentence(error)
            if queued:
                text += " " + self.tr("Requests waiting on this computer are listed.")
            self._list_failed_text(text)

    def on_event(self, event: Mapping[str, Any]) -> None:
        if event.get("event") == "case_changed":
            self.refresh()
            shown = self._number()
            if shown is not None and event.get("case_number") == shown:
                self.open_case(shown)

    def _list_failed(self, exc: BaseException) -> None:
        self._list_failed_text(error_sentence(exc))

    def _list_failed_text(self, text: str) -> None:
        self.refresh_button.setEnabled(True)
        self.list_status.setText(text)
        error_style(self.list_status)

    def _cases_listed(self, cases: list[dict[str, Any]]) -> None:
        self.refresh_button.setEnabled(True)
        self.list_status.setStyleSheet("")
        self.cases = [c for c in cases if isinstance(c, dict)]
        selected = self.selected_number()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.cases))
        for row, case in enumerate(self.cases):
            self._fill_row(row, case)
        self.table.setSortingEnabled(True)
        if not self.cases:
            self.list_status.setText(
                self.tr("No cases yet. Request Support opens one; it shows here once sent.")
            )
            return
        self.list_status.setText(
            self.tr(
                "Select a case to see its history and to add information, escalate it "
                "or report another issue."
            )
        )
        if selected is not None:
            self.select(selected)
        elif self.case is None:
            self.table.selectRow(0)

    def _fill_row(self, row: int, case: Mapping[str, Any]) -> None:
        number = case.get("case_number")
        label = str(number) if number is not None else str(case.get("reference", ""))
        cells: list[tuple[str, Any]] = [
            (label, number if number is not None else 0),
            (str(case.get("brief", "")), None),
            (
                f"{case.get('priority', '')} – {case.get('priority_label', '')}",
                case.get("priority"),
            ),
            (status_text(case.get("status")), None),
            (short_time(case.get("response_due")), str(case.get("response_due") or "")),
            (short_time(last_change(case)), last_change(case)),
        ]
        for column, (text, key) in enumerate(cells):
            item = _SortItem(text)
            item.setData(_NUMBER, number)
            if number is None:
                item.setData(_CASE, dict(case))
            if key is not None:
                item.setData(_SORT, key)
            if column == 1:
                item.setToolTip(text)
            self.table.setItem(row, column, item)

    def selected_number(self) -> int | None:
        items = self.table.selectedItems()
        if not items:
            return None
        number = items[0].data(_NUMBER)
        return int(number) if isinstance(number, int) else None

    def select(self, number: int) -> bool:
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(_NUMBER) == number:
                self.table.selectRow(row)
                return True
        return False

    def _selection_changed(self) -> None:
        items = self.table.selectedItems()
        waiting = items[0].data(_CASE) if items else None
        if isinstance(waiting, dict):  # no case number yet: what this computer knows
            self._loading_number = None
            self.show_case(waiting)
            return
        number = self.selected_number()
        if number is not None and (self.case is None or self.case.get("case_number") != number):
            self.open_case(number)

    # --- one case -------------------------------------------------------------------------

    def _case_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(page)
        layout.setContentsMargins(0, 8, 0, 0)
        self.case_title = heading(self.tr("No case selected"), page, 1.2)
        self.case_facts = wrapped("", page)
        self.case_facts.setAccessibleName(self.tr("About this case"))
        self.history = QtWidgets.QTextBrowser(page)
        self.history.setOpenExternalLinks(True)
        self.history.setAccessibleName(self.tr("Case history"))
        self.history.setMinimumHeight(140)
        self.case_actions = QtWidgets.QTabWidget(page)
        self.case_actions.setAccessibleName(self.tr("What you can do"))
        self.case_actions.addTab(self._update_tab(), self.tr("Add information"))
        self.case_actions.addTab(self._escalate_tab(), self.tr("Escalate"))
        self.case_actions.addTab(self._split_tab(), self.tr("Another issue"))
        self.case_actions.setEnabled(False)
        self.case_actions.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Preferred, QtWidgets.QSizePolicy.Policy.Maximum
        )
        self.action_status = wrapped("", page)
        self.action_status.setAccessibleName(self.tr("Result of your last action"))
        layout.addWidget(self.case_title)
        layout.addWidget(self.case_facts)
        layout.addWidget(self.history, 1)
        layout.addWidget(self.case_actions)
        layout.addWidget(self.action_status)
        return page

    def open_case(self, number: int) -> None:
        self._loading_number = number
        self.case_title.setText(self.tr("Case {n}").format(n=number))
        self.case_facts.setText(self.tr("Loading the case's history…"))
        self._submit(lambda rt: rt.get_case(number), self._case_loaded, self._case_failed)

    def _case_failed(self, exc: BaseException) -> None:
        self.case_facts.setText(error_sentence(exc))

    def _case_loaded(self, case: dict[str, Any]) -> None:
        number = case.get("case_number")
        if self._loading_number is not None and number != self._loading_number:
            return  # an older answer; the customer has moved on
        try:
            self.show_case(case)
        except (TypeError, ValueError, AttributeError) as exc:  # a case of the wrong shape
            log.warning("case %s could not be shown: %r", number, exc)
            self.case_facts.setText(
                self.tr(
                    "This case's history came in a form vxassist cannot show; try again "
                    "later, or ask support by phone or e-mail."
                )
            )

    def show_case(self, case: dict[str, Any]) -> None:
        self.case = case
        number = case.get("case_number")
        label = number if number is not None else case.get("reference", "")
        self.case_title.setText(
            self.tr("Case {n}: {brief}").format(n=label, brief=case.get("brief", ""))
        )
        if case.get("status") == "queued":
            self.case_title.setText(
                self.tr("Not sent yet: {brief}").format(brief=case.get("brief", ""))
            )
            self.case_facts.setText(
                esc(
                    self.tr(
                        "This request waits on this computer and goes by itself as soon as "
                        "support can be reached; it gets its case number then. ({why})"
                    ).format(why=str(case.get("last_error") or "").rstrip("."))
                )
            )
            self.history.setHtml("")
            self.case_actions.setEnabled(False)
            return
        facts = [
            self.tr("Status: <b>{s}</b>. Priority {p} ({label}).").format(
                s=esc(status_text(case.get("status"))),
                p=esc(case.get("priority", "")),
                label=esc(case.get("priority_label", "")),
            ),
            self.tr("Response due by {due}").format(due=deadline_lines(case.get("response_due"))),
        ]
        escalation = case.get("escalation")
        if isinstance(escalation, Mapping):
            to = str(escalation.get("to", ""))
            facts.append(
                self.tr("Escalated to the {to} on {at}: {why}").format(
                    to=esc(escalation_text(to)),
                    at=esc(short_time(escalation.get("at"))),
                    why=esc(escalation.get("reason", "")),
                )
            )
        for related in case.get("related") or []:
            if isinstance(related, Mapping):
                facts.append(
                    self.tr("Also opened from this request: case {n}, {brief}").format(
                        n=esc(related.get("case_number")), brief=esc(related.get("brief", ""))
                    )
                )
        self.case_facts.setText("<br>".join(facts))
        self._update_row(case)
        self.history.setHtml(self.history_html(case))
        closed = case.get("status") in ("closed", "no_contract") or number is None
        self.case_actions.setEnabled(not closed)
        self.case_actions.setToolTip(
            self.tr("This case is closed; open a new request instead.") if closed else ""
        )

    def _update_row(self, case: Mapping[str, Any]) -> None:
        """The list's row of ``case`` with what its page knows (status, last change)."""
        number = case.get("case_number")
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.data(_NUMBER) == number:
                sorting = self.table.isSortingEnabled()
                self.table.setSortingEnabled(False)
                self._fill_row(row, case)
                self.table.setSortingEnabled(sorting)
                return

    def history_html(self, case: Mapping[str, Any]) -> str:
        events = [e for e in case.get("events") or [] if isinstance(e, Mapping)]
        if not events:
            return "<p>" + esc(self.tr("No history yet.")) + "</p>"
        rows = []
        for event in events:
            if event.get("visibility") == "internal":
                continue  # the desk never sends engineers' notes to a host; never show one
            kind = str(event.get("kind", ""))
            support = kind in _FROM_SUPPORT and event.get("author_kind") == "engineer"
            who = esc(event.get("author", ""))
            if support:
                who = esc(self.tr("{name} (support)").format(name=event.get("author", "")))
            rows.append(
                (_REPLY_HTML if support else _EVENT_HTML).format(
                    at=esc(short_time(event.get("at"))),
                    who=who,
                    kind=esc(self._kind_text(kind)),
                    text=esc(event.get("text", "")).replace("\n", "<br>"),
                )
            )
        return "".join(rows)

    def _kind_text(self, kind: str) -> str:
        words = {
            "received": self.tr("received"),
            "update": self.tr("update"),
            "report": self.tr("system report attached"),
            "priority": self.tr("priority changed"),
            "escalated": self.tr("escalated"),
            "status": self.tr("status changed"),
            "continued": self.tr("continued by another case"),
            "reply": self.tr("reply from support"),
            "call": self.tr("telephone call"),
            "attachment": self.tr("file attached"),
            "escalation_closed": self.tr("escalation closed"),
        }
        return words.get(kind, kind)

    def _said(self, text: str, error: bool = False) -> None:
        self.action_status.setText(text)
        if error:
            error_style(self.action_status)
        else:
            self.action_status.setStyleSheet("")

    def _number(self) -> int | None:
        if self.case is None or not isinstance(self.case.get("case_number"), int):
            return None
        return int(self.case["case_number"])

    # --- add information --------------------------------------------------------------------

    def _update_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(tab)
        layout.addWidget(
            wrapped(self.tr("What is new since you reported it? What did you try?"), tab)
        )
        self.update_text = QtWidgets.QPlainTextEdit(tab)
        self.update_text.setTabChangesFocus(True)
        self.update_text.setAccessibleName(self.tr("Information to add"))
        self.update_text.setMaximumHeight(110)
        self.attach_report = QtWidgets.QCheckBox(
            self.tr("Also attach a fresh system report of this computer (secrets removed)"), tab
        )
        self.attach_report.setAccessibleName(self.tr("Attach a fresh system report"))
        self.attach_report.toggled.connect(self._attach_toggled)
        self.update_button = QtWidgets.QPushButton(self.tr("Add to the case"), tab)
        self.update_button.setAccessibleName(self.tr("Add to the case"))
        self.update_button.clicked.connect(self.send_update)
        # what the report holds, each part with a tick box, before it goes
        self.update_review = WhatWillBeSent(tab)
        self.update_review.setMinimumHeight(240)
        self.update_review.setVisible(False)
        self._update_report: Any = None
        # log files to send with the update (secrets are removed before they go)
        self.log_files: list[str] = []
        self.attach_log_button = QtWidgets.QPushButton(self.tr("Attach a log file…"), tab)
        self.attach_log_button.setAccessibleName(self.tr("Attach a log file"))
        self.attach_log_button.clicked.connect(self._choose_logs)
        self.clear_logs_button = QtWidgets.QPushButton(self.tr("Remove the files"), tab)
        self.clear_logs_button.clicked.connect(lambda: self.set_log_files([]))
        self.logs_label = wrapped("", tab)
        self.logs_label.setAccessibleName(self.tr("Log files to send"))
        self._log_dialog: QtWidgets.QFileDialog | None = None
        self.set_log_files([])
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.attach_report, 1)
        row.addWidget(self.update_button)
        logs_row = QtWidgets.QHBoxLayout()
        logs_row.addWidget(self.logs_label, 1)
        logs_row.addWidget(self.clear_logs_button)
        logs_row.addWidget(self.attach_log_button)
        layout.addWidget(self.update_text)
        layout.addLayout(logs_row)
        layout.addLayout(row)
        layout.addWidget(self.update_review, 1)
        layout.addStretch(1)
        return tab

    def _choose_logs(self) -> None:
        # non-modal: the asyncio work of the window goes on while the customer picks
        dialog = QtWidgets.QFileDialog(self, self.tr("Log files for the case"))
        dialog.setFileMode(QtWidgets.QFileDialog.FileMode.ExistingFiles)
        dialog.setNameFilter(
            self.tr(
                "Logs and text files (*.log *.txt *.out *.csv *.json *.xml *.ini *.conf "
                "*.cfg *.trc)"
            )
        )
        dialog.filesSelected.connect(lambda names: self.set_log_files(self.log_files + names))
        self._log_dialog = dialog
        dialog.open()

    def set_log_files(self, names: list[str]) -> None:
        """The log files that go with the next update (the same file once)."""
        self.log_files = list(dict.fromkeys(names))
        if self.log_files:
            shown = ", ".join(Path(n).name for n in self.log_files)
            self.logs_label.setText(
                self.tr("Goes with it, secrets removed: {files}").format(files=shown)
            )
        else:
            self.logs_label.setText(self.tr("No log file attached."))
        self.clear_logs_button.setVisible(bool(self.log_files))

    def _attach_toggled(self, checked: bool) -> None:
        if not checked:
            self.update_review.setVisible(False)
            return
        if self._update_report is not None:
            self.update_review.setVisible(True)
            return
        self._said(self.tr("Collecting this computer's system report…"))

        async def job(rt: Any) -> Any:
            return await rt.report()

        self._submit(job, self._update_report_ready, self._update_report_failed)

    def _update_report_ready(self, report: Any) -> None:
        self._update_report = report
        shown = [p for p in sendable.parts({}, report) if p.kind is not sendable.PartKind.FIELDS]
        self.update_review.set_parts(shown)
        self.update_review.setVisible(self.attach_report.isChecked())
        self._said(
            self.tr("Below is the report that goes with your information; untick what should stay.")
        )

    def _update_report_failed(self, exc: BaseException) -> None:
        self.attach_report.setChecked(False)
        self._said(
            self.tr("The system report could not be made: {why}").format(why=error_sentence(exc)),
            error=True,
        )

    def send_update(self) -> None:
        number = self._number()
        text = self.update_text.toPlainText().strip()
        if number is None:
            return
        if not text:
            self._said(self.tr("Write what is new first."), error=True)
            self.update_text.setFocus()
            return
        attach = self.attach_report.isChecked()
        report, unticked = self._update_report, self.update_review.unticked()
        logs = list(self.log_files)
        self.update_button.setEnabled(False)
        self._said(self.tr("Sending…"))

        async def job(rt: Any) -> dict[str, Any]:
            payload = None
            if attach:
                # the report shown for review, without what the customer unticked
                payload = sendable.report_payload(report or await rt.report(), unticked)
            answer: dict[str, Any] = await rt.update_case(number, text, payload, logs)
            return answer

        self._submit(job, self._updated, self._update_failed)

    def _update_failed(self, exc: BaseException) -> None:
        self.update_button.setEnabled(True)
        self._said(error_sentence(exc), error=True)

    def _updated(self, answer: dict[str, Any]) -> None:
        self.update_button.setEnabled(True)
        self.update_text.clear()
        self.set_log_files([])
        state = answer.get("outbox_state")
        with_report = answer.get("report_attached") is True
        if state == "pending":
            text = (
                self.tr(
                    "Support cannot be reached right now; your information and the system "
                    "report are saved on this computer and go as soon as the connection is back."
                )
                if with_report
                else self.tr(
                    "Support cannot be reached right now; your information is saved on this "
                    "computer and goes as soon as the connection is back."
                )
            )
        elif state in ("emailed", "saved"):
            text = self.tr(
                "Support could not take it directly, so it was sent another way: {where}."
            ).format(where=answer.get("fallback_to") or state)
        else:
            text = self.tr("Added to case {n}.").format(n=self._number())
            if with_report:
                text += " " + self.tr(
                    "A fresh system report of this computer went with it (secrets removed)."
                )
        self._said(text)
        self.attach_report.setChecked(False)
        self._update_report = None  # the next one is fresh again
        self._after_change(answer)

    # --- escalate ------------------------------------------------------------------------------

    def _escalate_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget(self)
        layout = QtWidgets.QFormLayout(tab)
        layout.setRowWrapPolicy(QtWidgets.QFormLayout.RowWrapPolicy.WrapLongRows)
        self.escalate_to = QtWidgets.QComboBox(tab)
        for key in ESCALATION_WORDS:
            shown = escalation_text(key)
            self.escalate_to.addItem(shown[:1].upper() + shown[1:], key)
        self.escalate_to.setAccessibleName(self.tr("Escalate to"))
        self.escalate_reason = QtWidgets.QPlainTextEdit(tab)
        self.escalate_reason.setTabChangesFocus(True)
        self.escalate_reason.setMaximumHeight(90)
        self.escalate_reason.setAccessibleName(self.tr("Why it needs escalation"))
        self.escalate_button = QtWidgets.QPushButton(self.tr("Ask for escalation"), tab)
        self.escalate_button.setAccessibleName(self.tr("Ask for escalation"))
        self.escalate_button.clicked.connect(self.send_escalation)
        layout.addRow(self.tr("Escalate to"), self.escalate_to)
        layout.addRow(self.tr("Why"), self.escalate_reason)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.escalate_button)
        layout.addRow(buttons)
        layout.addItem(
            QtWidgets.QSpacerItem(
                0, 0, QtWidgets.QSizePolicy.Policy.Minimum, QtWidgets.QSizePolicy.Policy.Expanding
            )
        )
        return tab

    def send_escalation(self) -> None:
        number = self._number()
        reason = self.escalate_reason.toPlainText().strip()
        if number is None:
            return
        if not reason:
            self._said(self.tr("Say why the case needs escalation first."), error=True)
            self.escalate_reason.setFocus()
            return
        to = str(self.escalate_to.currentData())
        self.escalate_button.setEnabled(False)
        self._said(self.tr("Sending…"))
        self._submit(
            lambda rt: rt.escalate_case(number, to, reason), self._escalated, self._escalate_failed
        )

    def _escalate_failed(self, exc: BaseException) -> None:
        self.escalate_button.setEnabled(True)
        self._said(error_sentence(exc), error=True)

    def _escalated(self, answer: dict[str, Any]) -> None:
        self.escalate_button.setEnabled(True)
        self.escalate_reason.clear()
        key = str(self.escalate_to.currentData())
        to = escalation_text(key)
        self._said(
            self.tr("Case {n} is escalated to the {to}; they are told why.").format(
                n=self._number(), to=to
            )
        )
        self._after_change(answer)

    # --- another issue ---------------------------------------------------------------------------

    def _split_tab(self) -> QtWidgets.QWidget:
        tab = QtWidgets.QWidget(self)
        outer = QtWidgets.QVBoxLayout(tab)
        outer.addWidget(
            wrapped(
                self.tr(
                    "One case per problem: if this case also holds another problem, describe "
                    "it here. It becomes a case of its own, linked to this one, with the same "
                    "company, contact and system details."
                ),
                tab,
            )
        )
        form = QtWidgets.QFormLayout()
        form.setRowWrapPolicy(QtWidgets.QFormLayout.RowWrapPolicy.WrapLongRows)
        self.split_fields: dict[str, QtWidgets.QWidget] = {}
        brief = QtWidgets.QLineEdit(tab)
        details = QtWidgets.QPlainTextEdit(tab)
        steps = QtWidgets.QPlainTextEdit(tab)
        for text_edit in (details, steps):
            text_edit.setTabChangesFocus(True)
            text_edit.setMaximumHeight(60)
        priority = QtWidgets.QComboBox(tab)
        for level in priority_levels():
            priority.addItem(f"{level.level} – {level.label}: {level.meaning}", level.level)
        priority.setCurrentIndex(2)
        for name, widget in (
            ("brief", brief),
            ("details", details),
            ("steps_taken", steps),
            ("priority", priority),
        ):
            widget.setAccessibleName(SPECS[name].label)
            self.split_fields[name] = widget
            form.addRow(SPECS[name].label, widget)
        outer.addLayout(form)
        self.split_button = QtWidgets.QPushButton(self.tr("Open a case for it"), tab)
        self.split_button.setAccessibleName(self.tr("Open a case for the other issue"))
        self.split_button.clicked.connect(self.send_split)
        outer.addWidget(self.split_button, 0, Qt.AlignmentFlag.AlignRight)
        outer.addStretch(1)
        return tab

    def split_values(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, widget in self.split_fields.items():
            if isinstance(widget, QtWidgets.QLineEdit):
                values[name] = widget.text()
            elif isinstance(widget, QtWidgets.QPlainTextEdit):
                values[name] = widget.toPlainText()
            elif isinstance(widget, QtWidgets.QComboBox):
                values[name] = str(widget.currentData())
        return values

    def split_request(self) -> dict[str, Any]:
        """The new request: this case's shared fields, the other issue, and the link."""
        case = self.case or {}
        fields: dict[str, Any] = {name: str(case.get(name) or "") for name in SHARED_FIELDS}
        fields.update(self.split_values())
        fields["continues_case"] = str(self._number() or "")
        return fields

    def send_split(self) -> None:
        if self._number() is None:
            return
        fields = self.split_request()
        _, problems = check_fields(fields)
        if problems:
            self._said(" ".join(p.message for p in problems), error=True)
            return
        self.split_button.setEnabled(False)
        self._said(self.tr("Sending…"))
        self._submit(lambda rt: rt.submit_case(fields, None), self._split_done, self._split_failed)

    def _split_failed(self, exc: BaseException) -> None:
        self.split_button.setEnabled(True)
        self._said(error_sentence(exc), error=True)

    def _split_done(self, submission: Any) -> None:
        self.split_button.setEnabled(True)
        item = submission.item
        answer = dict(item.answer or {})
        if item.case_number is not None:
            self._said(
                self.tr("The other issue is case {n}; a response is due by {due}.").format(
                    n=item.case_number, due=short_time(answer.get("response_due"))
                )
            )
        elif str(item.state) == "pending":
            self._said(
                self.tr(
                    "Support cannot be reached right now; the other issue is saved on this "
                    "computer and goes as soon as the connection is back."
                )
            )
        elif str(item.state) == "rejected":
            self._said(
                self.tr("The desk refused it: {why}").format(why=item.last_error), error=True
            )
            return
        else:
            self._said(esc(answer.get("message") or item.last_error))
        for widget in self.split_fields.values():
            if isinstance(widget, QtWidgets.QLineEdit | QtWidgets.QPlainTextEdit):
                widget.clear()
        self._after_change(answer)

    # --- after any action ------------------------------------------------------------------------

    def _after_change(self, answer: dict[str, Any]) -> None:
        self.case_changed.emit(answer)
        number = self._number()
        self.refresh()
        if number is not None:
            self.open_case(number)
