"""Request Support: the knowledge base first, then the form, what will be sent, and the answer.

One non-modal window in three pages:

1. the form: a knowledge-base search, then the required information in
   sections; the system fields are filled from the background system report
   and stay editable; every field is checked as the customer types, with the
   case model's own validation, and nothing is marked before it was touched;
2. what will be sent (:class:`vxassist.ui.review.WhatWillBeSent`), a tick box
   per part;
3. the answer: a case number and the response deadline in the customer's
   time and Pacific time, or "queued", or why there is no case number.

Desk and disk work goes through the bridge (``bridge.submit(lambda rt: ...)``)
to the agent runtime; the GUI thread never waits. The form is kept as a draft
(:class:`vxassist.cases.draft.DraftStore`) while the customer types, so it
survives closing the window and restarting the agent; a failure says one
sentence and leaves everything filled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from vxassist.cases import sendable
from vxassist.cases.draft import Draft, DraftStore, make_draft
from vxassist.cases.fields import BRIEF_MAX, FieldSpec
from vxassist.cases.levels import priority_levels
from vxassist.cases.model import SPECS, CaseInvalid, check_fields
from vxassist.errors import VxError
from vxassist.paths import Paths
from vxassist.settings import SupportContact
from vxassist.ui.case_common import (
    contact_html,
    deadline_lines,
    error_sentence,
    error_style,
    esc,
    heading,
    wrapped,
)
from vxassist.ui.qt import Qt, QtCore, QtGui, QtWidgets, Signal
from vxassist.ui.review import WhatWillBeSent

log = logging.getLogger(__name__)

#: the form's sections: title, short help, field names
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        str(QtCore.QT_TRANSLATE_NOOP("RequestSupportWindow", "Company and install")),
        "",
        ("company", "install_type", "location"),
    ),
    (
        str(QtCore.QT_TRANSLATE_NOOP("RequestSupportWindow", "Technical contact")),
        str(
            QtCore.QT_TRANSLATE_NOOP(
                "RequestSupportWindow", "The person support calls back about this request."
            )
        ),
        ("contact_name", "contact_phone", "contact_email"),
    ),
    (
        str(QtCore.QT_TRANSLATE_NOOP("RequestSupportWindow", "This system")),
        "",
        ("database_type", "vxtracker_server", "pbx_manufacturer", "pbx_model"),
    ),
    (
        str(QtCore.QT_TRANSLATE_NOOP("RequestSupportWindow", "The problem")),
        "",
        (
            "brief",
            "details",
            "steps_taken",
            "third_party_app",
            "third_party_version",
            "continues_case",
            "priority",
        ),
    ),
)

MULTILINE = frozenset({"details", "steps_taken"})
#: how long after the last keystroke the field is checked and the draft saved
CHECK_DELAY_MS = 400
#: the pause in typing the brief after which articles are suggested
SUGGEST_DELAY_MS = 400
#: at most this many suggestions under the brief
SUGGEST_MAX = 3
DRAFT_DELAY_MS = 800

FORM_PAGE, REVIEW_PAGE, RESULT_PAGE = 0, 1, 2
#: the window's height for the form and the review, and the least for the short answer page
FORM_HEIGHT = 860
RESULT_MIN_HEIGHT = 300


def _in_thread(work: Callable[[], Any]) -> Callable[[Any], Any]:
    """A bridge job that runs blocking ``work`` (disk) on a thread of the agent's loop."""

    def job(_runtime: Any) -> Any:
        return asyncio.to_thread(work)

    return job


class AgentGone(VxError):
    """The agent's background work has stopped (it is quitting or failed)."""

    def __init__(self) -> None:
        super().__init__(
            "vxassist's background service is not running; start vxassist again. "
            "What you typed is kept."
        )


def _paragraphs(*texts: str) -> str:
    return "".join(f"<p>{t}</p>" for t in texts)


def field_message(spec: FieldSpec, message: str) -> str:
    """The model's sentence without the field's label (it stands next to the field)."""
    prefix = f"{spec.label}: "
    text = message[len(prefix) :] if message.startswith(prefix) else message
    return text[:1].upper() + text[1:]


ALSO_FIELDS = ("brief", "details", "steps_taken", "priority")


class FurtherIssue(QtWidgets.QGroupBox):
    """Another, separate problem in the same request; the desk makes it a case of its own."""

    changed = Signal()
    remove_asked = Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(self_tr("Another problem (it becomes a case of its own)"), parent)
        self.setAccessibleName(self.title())
        self.brief = QtWidgets.QLineEdit(self)
        self.details = QtWidgets.QPlainTextEdit(self)
        self.steps = QtWidgets.QPlainTextEdit(self)
        for text in (self.details, self.steps):
            text.setTabChangesFocus(True)
            text.setMinimumHeight(60)
            text.setMaximumHeight(120)
            text.textChanged.connect(self.changed)
        self.brief.textEdited.connect(lambda _t: self.changed.emit())
        self.priority = QtWidgets.QComboBox(self)
        for level in priority_levels():
            self.priority.addItem(f"{level.level} – {level.label}: {level.meaning}", level.level)
        self.priority.setCurrentIndex(-1)
        self.priority.setPlaceholderText(self_tr("Choose how urgent it is"))
        self.priority.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.error = wrapped("", self)
        error_style(self.error)
        self.error.hide()
        remove = QtWidgets.QPushButton(self_tr("Remove this problem"), self)
        remove.setAccessibleName(self_tr("Remove this further problem"))
        remove.clicked.connect(lambda: self.remove_asked.emit(self))
        form = QtWidgets.QFormLayout(self)
        form.setRowWrapPolicy(QtWidgets.QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name, widget in zip(
            ALSO_FIELDS, (self.brief, self.details, self.steps, self.priority), strict=True
        ):
            widget.setAccessibleName(SPECS[name].label)
            form.addRow(SPECS[name].label, widget)
        form.addRow(self.error)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(remove)
        form.addRow(buttons)

    def values(self) -> dict[str, str]:
        level = self.priority.currentData()
        return {
            "brief": self.brief.text(),
            "details": self.details.toPlainText(),
            "steps_taken": self.steps.toPlainText(),
            "priority": str(level) if level is not None else "",
        }

    def set_values(self, values: Mapping[str, str]) -> None:
        self.brief.setText(values.get("brief", ""))
        self.details.setPlainText(values.get("details", ""))
        self.steps.setPlainText(values.get("steps_taken", ""))
        level = values.get("priority", "")
        self.priority.setCurrentIndex(
            self.priority.findData(int(level)) if level.strip().isdigit() else -1
        )

    def check(self) -> str:
        """The problems of this issue in one sentence each (shown under it), or ""."""
        _, found = check_fields(self.values())
        text = " ".join(p.message for p in found if p.field in ALSO_FIELDS)
        self.error.setText(text)
        self.error.setVisible(bool(text))
        return text


def self_tr(text: str) -> str:
    return QtCore.QCoreApplication.translate("FurtherIssue", text)


class RequestSupportWindow(QtWidgets.QWidget):
    """The customer's support request (see the module's docstring)."""

    #: the runtime's ``Submission`` after a send that the desk or the outbox took
    case_submitted = Signal(object)

    def __init__(
        self,
        bridge: Any,
        support: SupportContact,
        drafts: DraftStore,
        *,
        open_cases: Callable[[], None] | None = None,
        paths: Paths | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.support = support
        self.drafts = drafts
        self._open_cases = open_cases
        self.report: Any = None
        self.touched: set[str] = set()
        self.editors: dict[str, QtWidgets.QWidget] = {}
        self.errors: dict[str, QtWidgets.QLabel] = {}
        self.issues: list[FurtherIssue] = []
        self.unticked: set[str] = set()
        self._prefilled: dict[str, str] = {}
        self._packages: dict[str, str] = {}
        self._auto_version = ""
        self._draft_restored = False
        self._draft_saving = False
        self._draft_again = False
        self._clear_after_save = False
        self._sending = False
        self.last_submission: Any = None

        self.setWindowTitle(self.tr("Request Support"))
        self.setAccessibleName(self.tr("Request Support"))
        self.setWindowFlag(Qt.WindowType.Window, True)

        self._check_timer = QtCore.QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self.validate)
        self._draft_timer = QtCore.QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_DELAY_MS)
        self._draft_timer.timeout.connect(self.save_draft)

        self.pages = QtWidgets.QStackedWidget(self)
        self.pages.addWidget(self._form_page())
        self.pages.addWidget(self._review_page())
        self.pages.addWidget(self._result_page())
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        self.resize(820, FORM_HEIGHT)
        self.setMinimumSize(560, 480)

        self._suggestions_box()
        self._load_draft()
        self.refresh_report()
        if paths is not None:
            self._load_enrollment(paths)
        events = getattr(bridge, "event_received", None)
        if events is not None:
            events.connect(self.on_event)

    def _submit(
        self,
        job: Callable[[Any], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> bool:
        """Hand ``job`` to the agent's loop; False (and the error handed on) if it is gone."""
        try:
            self.bridge.submit(job, on_done, on_error)
        except RuntimeError as exc:
            log.warning("the agent's loop is not running: %s", exc)
            if on_error is not None:
                on_error(AgentGone())
            return False
        return True

    # --- page 1: knowledge base and form --------------------------------------------------

    def _form_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget(self)
        scroll = QtWidgets.QScrollArea(page)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        body = QtWidgets.QWidget(scroll)
        column = QtWidgets.QVBoxLayout(body)
        column.setContentsMargins(20, 16, 20, 16)
        column.setSpacing(14)
        column.addWidget(heading(self.tr("Request Support"), body, 1.4))
        column.addWidget(self._kb_box(body))
        column.addWidget(
            wrapped(
                self.tr(
                    "Not answered there? Tell us about the problem below. Fields marked "
                    "(optional) can stay empty. What you type is kept on this computer "
                    "until you send it, even if you close this window."
                ),
                body,
            )
        )
        self._form_labels: list[QtWidgets.QLabel] = []
        for title, help_text, names in SECTIONS:
            column.addWidget(self._section(body, self.tr(title), self.tr(help_text), names))
        # one label column through every section: the fields line up from top to bottom
        widest = max(label.sizeHint().width() for label in self._form_labels)
        for label in self._form_labels:
            label.setMinimumWidth(widest)
        self.issues_layout = QtWidgets.QVBoxLayout()
        column.addLayout(self.issues_layout)
        self.add_issue_button = QtWidgets.QPushButton(
            self.tr("Add another, separate problem…"), body
        )
        self.add_issue_button.setAccessibleName(self.tr("Add another, separate problem"))
        self.add_issue_button.setToolTip(
            self.tr("One case per problem: each further problem becomes a case of its own.")
        )
        self.add_issue_button.clicked.connect(lambda: self.add_issue())
        column.addWidget(self.add_issue_button, 0, Qt.AlignmentFlag.AlignLeft)
        column.addStretch(1)
        scroll.setWidget(body)

        self.form_status = wrapped("", page)
        error_style(self.form_status)
        self.form_status.setAccessibleName(self.tr("Form status"))
        self.review_button = QtWidgets.QPushButton(self.tr("Review what will be sent…"), page)
        self.review_button.setAccessibleName(self.tr("Review what will be sent"))
        self.review_button.setDefault(True)
        self.review_button.clicked.connect(self.show_review)
        bar = QtWidgets.QHBoxLayout()
        bar.setContentsMargins(20, 8, 20, 12)
        bar.addWidget(self.form_status, 1)
        bar.addWidget(self.review_button, 0, Qt.AlignmentFlag.AlignBottom)

        layout = QtWidgets.QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll, 1)
        layout.addLayout(bar)
        return page

    def _kb_box(self, parent: QtWidgets.QWidget) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox(self.tr("First, search the knowledge base"), parent)
        self.kb_query = QtWidgets.QLineEdit(box)
        self.kb_query.setPlaceholderText(self.tr("e.g. calls not recorded, SMDR, report export"))
        self.kb_query.setAccessibleName(self.tr("Search the knowledge base"))
        self.kb_query.setClearButtonEnabled(True)
        self.kb_query.returnPressed.connect(self.search_kb)
        self.kb_button = QtWidgets.QPushButton(self.tr("Search"), box)
        self.kb_button.setAccessibleName(self.tr("Search the knowledge base"))
        self.kb_button.clicked.connect(self.search_kb)
        self.kb_results = wrapped(self._kb_fallback_html(first=True), box, links=True)
        self.kb_results.setAccessibleName(self.tr("Knowledge base answers"))
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.kb_query, 1)
        row.addWidget(self.kb_button)
        layout = QtWidgets.QVBoxLayout(box)
        layout.addLayout(row)
        layout.addWidget(self.kb_results)
        return box

    def _kb_fallback_html(self, first: bool = False) -> str:
        support = self.support
        contact = contact_html(support.phone, support.email)
        if support.website:
            link = f'<a href="{esc(support.website)}">{esc(support.website)}</a>'
            if first:
                return self.tr(
                    "Many questions are answered on the support website, {link}. "
                    "You can also reach support by {contact}."
                ).format(link=link, contact=contact)
            return self.tr(
                "Search the knowledge base on the support website: {link}. "
                "You can also reach support by {contact}."
            ).format(link=link, contact=contact)
        if first:
            return self.tr(
                "Type a few words about the problem and press Search. You can also reach "
                "support by {contact}."
            ).format(contact=contact)
        return self.tr(
            "The knowledge base cannot be searched from this computer. Support answers by "
            "{contact}."
        ).format(contact=contact)

    def _section(
        self,
        parent: QtWidgets.QWidget,
        title: str,
        help_text: str,
        names: tuple[str, ...],
    ) -> QtWidgets.QGroupBox:
        box = QtWidgets.QGroupBox(title, parent)
        box.setAccessibleName(title)
        outer = QtWidgets.QVBoxLayout(box)
        if help_text:
            outer.addWidget(wrapped(help_text, box))
        if "database_type" in names:
            outer.addLayout(self._report_progress(box))
        form = QtWidgets.QFormLayout()
        form.setRowWrapPolicy(QtWidgets.QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setFieldGrowthPolicy(QtWidgets.QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        for name in names:
            spec = SPECS[name]
            cell = QtWidgets.QWidget(box)
            cell_layout = QtWidgets.QVBoxLayout(cell)
            cell_layout.setContentsMargins(0, 0, 0, 0)
            cell_layout.setSpacing(2)
            editor = self._editor(name, spec, cell)
            cell_layout.addWidget(editor)
            error = wrapped("", cell)
            error_style(error)
            error.setAccessibleName(self.tr("Problem with {field}").format(field=spec.label))
            error.hide()
            cell_layout.addWidget(error)
            self.errors[name] = error
            text = (
                spec.label
                if spec.required
                else self.tr("{label} (optional)").format(label=spec.label)
            )
            label = QtWidgets.QLabel(text, box)
            label.setBuddy(editor if name != "priority" else self.priority_buttons[0])
            self._form_labels.append(label)
            form.addRow(label, cell)
        outer.addLayout(form)
        return box

    def _report_progress(self, parent: QtWidgets.QWidget) -> QtWidgets.QHBoxLayout:
        self.report_bar = QtWidgets.QProgressBar(parent)
        self.report_bar.setRange(0, 0)
        self.report_bar.setMaximumWidth(120)
        self.report_bar.setTextVisible(False)
        self.report_bar.setAccessibleName(self.tr("Reading this computer's details"))
        self.report_note = wrapped(
            self.tr(
                "Reading this computer's details (database, VXTracker, PBX)… You can type "
                "meanwhile; what you type is kept."
            ),
            parent,
        )
        self.report_note.setAccessibleName(self.tr("System report status"))
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.report_bar, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.report_note, 1)
        return row

    def _editor(self, name: str, spec: FieldSpec, parent: QtWidgets.QWidget) -> QtWidgets.QWidget:
        editor: QtWidgets.QWidget
        if name == "priority":
            editor = self._priority_editor(parent)
        elif name in MULTILINE:
            text = QtWidgets.QPlainTextEdit(parent)
            text.setTabChangesFocus(True)
            text.setPlaceholderText(spec.help[:1].upper() + spec.help[1:])
            text.setMinimumHeight(90)
            text.setMaximumHeight(220)
            text.textChanged.connect(lambda n=name: self._edited(n))
            editor = text
        elif name == "third_party_app":
            combo = QtWidgets.QComboBox(parent)
            combo.setEditable(True)
            combo.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.NoInsert)
            line = combo.lineEdit()
            assert line is not None
            line.setPlaceholderText(self.tr("pick from this computer's software, or type a name"))
            completer = QtWidgets.QCompleter(combo.model(), combo)
            completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
            completer.setFilterMode(Qt.MatchFlag.MatchContains)
            completer.setCompletionMode(QtWidgets.QCompleter.CompletionMode.PopupCompletion)
            combo.setCompleter(completer)
            line.textEdited.connect(lambda _t, n=name: self._edited(n))
            combo.activated.connect(lambda _i: self._app_picked())
            completer.activated.connect(lambda _t: self._app_picked())
            editor = combo
        else:
            line_edit = QtWidgets.QLineEdit(parent)
            line_edit.setPlaceholderText(spec.help[:1].upper() + spec.help[1:])
            if name == "brief":
                line_edit.setMaxLength(BRIEF_MAX + 40)  # the model says when it is too long
            line_edit.textEdited.connect(lambda _t, n=name: self._edited(n))
            editor = line_edit
        editor.setAccessibleName(spec.label)
        editor.setAccessibleDescription(spec.help)
        editor.installEventFilter(self)
        self.editors[name] = editor
        return editor

    def _priority_editor(self, parent: QtWidgets.QWidget) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget(parent)
        grid = QtWidgets.QGridLayout(box)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        self.priority_group = QtWidgets.QButtonGroup(box)
        self.priority_buttons: list[QtWidgets.QRadioButton] = []
        for row, level in enumerate(priority_levels()):
            button = QtWidgets.QRadioButton(f"{level.level} – {level.label}", box)
            meaning = level.meaning[:1].upper() + level.meaning[1:]
            description = f"{meaning}. {level.response[:1].upper()}{level.response[1:]}."
            button.setAccessibleName(
                self.tr("Priority {n}, {label}").format(n=level.level, label=level.label)
            )
            button.setAccessibleDescription(description)
            button.toggled.connect(self._priority_toggled)
            self.priority_group.addButton(button, level.level)
            self.priority_buttons.append(button)
            note = wrapped(description, box)
            note.setContentsMargins(24, 0, 0, 6)
            note.setForegroundRole(QtGui.QPalette.ColorRole.PlaceholderText)
            grid.addWidget(button, row * 2, 0)
            grid.addWidget(note, row * 2 + 1, 0)
        return box

    def _priority_toggled(self, on: bool) -> None:
        if on:
            self._edited("priority")

    # --- values ----------------------------------------------------------------------------

    def value(self, name: str) -> str:
        editor = self.editors[name]
        if name == "priority":
            level = self.priority_group.checkedId()
            return str(level) if level > 0 else ""
        if isinstance(editor, QtWidgets.QPlainTextEdit):
            return editor.toPlainText()
        if isinstance(editor, QtWidgets.QComboBox):
            return editor.currentText()
        assert isinstance(editor, QtWidgets.QLineEdit)
        return editor.text()

    def values(self) -> dict[str, str]:
        return {name: self.value(name) for name in self.editors}

    def set_value(self, name: str, text: str, touched: bool = False) -> None:
        """Fill a field (from a draft or the report); ``touched`` as if the customer typed it."""
        editor = self.editors.get(name)
        if editor is None:
            return
        if name == "priority":
            button = self.priority_group.button(int(text)) if text.strip().isdigit() else None
            if button is not None:
                button.setChecked(True)
            else:
                self.priority_group.setExclusive(False)
                for b in self.priority_buttons:
                    b.setChecked(False)
                self.priority_group.setExclusive(True)
        elif isinstance(editor, QtWidgets.QPlainTextEdit):
            editor.blockSignals(True)
            editor.setPlainText(text)
            editor.blockSignals(False)
        elif isinstance(editor, QtWidgets.QComboBox):
            editor.setEditText(text)
        elif isinstance(editor, QtWidgets.QLineEdit):
            editor.setText(text)
        if touched:
            self.touched.add(name)
        else:
            self.touched.discard(name)

    def fields_for_request(self) -> dict[str, str]:
        """The values the runtime's ``submit_case`` gets (empty optional ones left out)."""
        return {k: v for k, v in self.values().items() if v.strip() or SPECS[k].required}

    def add_issue(self, values: Mapping[str, str] | None = None) -> FurtherIssue:
        issue = FurtherIssue(self)
        if values:
            issue.set_values(values)
        issue.changed.connect(self._draft_timer.start)
        issue.remove_asked.connect(self._remove_issue)
        self.issues.append(issue)
        self.issues_layout.addWidget(issue)
        if values is None:
            issue.brief.setFocus()
        self._draft_timer.start()
        return issue

    def _remove_issue(self, issue: FurtherIssue) -> None:
        if issue in self.issues:
            self.issues.remove(issue)
            issue.hide()
            issue.deleteLater()
            self._draft_timer.start()

    def also_values(self) -> list[dict[str, str]]:
        """The further problems the customer wrote something in."""
        return [v for i in self.issues if any((v := i.values()).values())]

    def request_values(self) -> dict[str, Any]:
        """What the runtime's ``submit_case`` gets: the fields, and further problems."""
        values: dict[str, Any] = dict(self.fields_for_request())
        also = self.also_values()
        if also:
            values["also"] = also
        return values

    # --- typing, checking, the draft -----------------------------------------------------

    def _edited(self, name: str) -> None:
        self.touched.add(name)
        if (
            name == "third_party_app"
            and self._auto_version
            and (self.value("third_party_version") == self._auto_version)
        ):
            self.set_value("third_party_version", "")
            self._auto_version = ""
        self._check_field(name, show_new=False)
        self._check_timer.start()
        self._draft_timer.start()

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.FocusOut:
            for name, editor in self.editors.items():
                if editor is watched and name in self.touched:
                    self._check_field(name, show_new=True)
        return super().eventFilter(watched, event)

    def problems(self) -> dict[str, str]:
        """Each field's problem now, in the customer's words (whether shown or not)."""
        _, found = check_fields(self.fields_for_request())
        return {
            p.field: field_message(SPECS[p.field], p.message) for p in found if p.field in SPECS
        }

    def _check_field(self, name: str, show_new: bool) -> None:
        message = self.problems().get(name, "")
        label = self.errors[name]
        if not message:
            label.hide()
            label.setText("")
        elif show_new or label.isVisible():
            label.setText(message)
            label.show()

    def validate(self, show_all: bool = False) -> dict[str, str]:
        """Mark the touched fields' problems (every field's with ``show_all``)."""
        problems = self.problems()
        if show_all:
            self.touched.update(self.editors)
        for name, label in self.errors.items():
            message = problems.get(name, "") if name in self.touched else ""
            label.setText(message)
            label.setVisible(bool(message))
        if not problems:
            self.form_status.setText("")
        return problems

    def marked(self) -> dict[str, str]:
        """The problems shown on screen now."""
        return {n: lbl.text() for n, lbl in self.errors.items() if not lbl.isHidden()}

    def draft(self) -> Draft:
        return make_draft(self.values(), sorted(self.unticked), self.also_values())

    def save_draft(self) -> None:
        """Save the form now (one save at a time; the newest values win)."""
        self._draft_timer.stop()
        if self._draft_saving:
            self._draft_again = True
            return
        self._draft_saving = True
        draft, store = self.draft(), self.drafts
        try:
            self.bridge.submit(
                _in_thread(lambda: store.save(draft)),
                on_done=lambda _r: self._draft_saved(None),
                on_error=self._draft_saved,
            )
        except RuntimeError:
            # the agent is stopping: a small file now beats losing what was typed
            try:
                store.save(draft)
            except VxError as exc:
                self._draft_saved(exc)
                return
            self._draft_saved(None)

    def _draft_saved(self, exc: BaseException | None) -> None:
        self._draft_saving = False
        if exc is not None:
            self.form_status.setText(error_sentence(exc))
        if self._clear_after_save:
            self._clear_after_save = False
            self.drafts_clear()
            return
        if self._draft_again:
            self._draft_again = False
            self.save_draft()

    def _load_draft(self) -> None:
        store = self.drafts
        self._submit(
            _in_thread(store.load), on_done=self._draft_loaded, on_error=self._draft_load_failed
        )

    def _draft_loaded(self, draft: Draft | None) -> None:
        if draft is None:
            return
        for name, text in draft.fields.items():
            if name not in self.touched and text:
                self.set_value(name, text, touched=True)
        self.unticked = set(draft.unticked)
        if not self.issues:
            for values in draft.also:
                self.add_issue(values)
        self._draft_restored = True
        self.validate()
        self.form_status.setText("")

    def _load_enrollment(self, paths: Paths) -> None:
        """The company of this host's contract, to fill the company name."""
        from vxassist.cases.enroll import read_enrollment

        self._submit(
            _in_thread(lambda: read_enrollment(paths)),
            on_done=self._enrollment_known,
            on_error=self._draft_load_failed,
        )

    def _enrollment_known(self, facts: Mapping[str, Any]) -> None:
        company = str(facts.get("company") or "") if isinstance(facts, Mapping) else ""
        if company and "company" not in self.touched and not self.value("company"):
            self.set_value("company", company)

    def _draft_load_failed(self, exc: BaseException) -> None:
        log.warning("draft not loaded: %r", exc)

    # --- the system report ------------------------------------------------------------------

    def refresh_report(self) -> None:
        self._submit(
            lambda rt: rt.report(), on_done=self._report_ready, on_error=self._report_failed
        )

    def on_event(self, event: Mapping[str, Any]) -> None:
        if event.get("event") == "report_ready" and self.report is not None:
            self.refresh_report()

    def _report_ready(self, report: Any) -> None:
        first = self.report is None
        self.report = report
        self.report_bar.hide()
        try:
            from vxassist.sysinfo.report import case_prefill

            filled = {k: str(v) for k, v in case_prefill(report).items() if v}
        except Exception as exc:  # a report of an odd shape must not break the form
            log.warning("no prefill from the report: %r", exc)
            filled = {}
        for name, text in filled.items():
            current = self.value(name)
            if name not in self.touched and (not current or current == self._prefilled.get(name)):
                self.set_value(name, text)
        self._prefilled = filled
        self._fill_software(report)
        if first:
            self.report_note.setText(
                self.tr(
                    "Filled in from this computer's system report. Change anything that "
                    "is wrong; what you type is what is sent."
                )
                if filled
                else self.tr(
                    "This computer's system report could not tell these details; please type them."
                )
            )
        if self.pages.currentIndex() == REVIEW_PAGE:
            self._fill_review()

    def _report_failed(self, exc: BaseException) -> None:
        self.report_bar.hide()
        self.report_note.setText(
            self.tr("This computer's details could not be read ({why}). Please type them.").format(
                why=error_sentence(exc).rstrip(".")
            )
        )

    def _fill_software(self, report: Any) -> None:
        try:
            section = report.sections.get("software")
            packages = section.data.get("packages", []) if section is not None else []
        except AttributeError:
            packages = []
        self._packages = {
            str(p.get("name")): str(p.get("version") or "")
            for p in packages
            if isinstance(p, dict) and p.get("name")
        }
        combo = self.editors["third_party_app"]
        assert isinstance(combo, QtWidgets.QComboBox)
        text = combo.currentText()
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(sorted(self._packages, key=str.lower))
        combo.setEditText(text)
        combo.blockSignals(False)

    def _app_picked(self) -> None:
        name = self.value("third_party_app")
        version = self._packages.get(name, "")
        self.touched.add("third_party_app")
        current = self.value("third_party_version")
        if version and (not current or current == self._auto_version):
            self.set_value("third_party_version", version, touched=True)
            self._auto_version = version
        self._check_timer.start()
        self._draft_timer.start()

    # --- knowledge base ---------------------------------------------------------------------

    def search_kb(self) -> None:
        query = self.kb_query.text().strip()
        if not query:
            self.kb_results.setText(self.tr("Type a few words about the problem first."))
            return
        self.kb_button.setEnabled(False)
        self.kb_results.setText(self.tr("Searching…"))
        self._submit(
            lambda rt: rt.kb_search(query), on_done=self._kb_answered, on_error=self._kb_failed
        )

    def _kb_answered(self, articles: list[dict[str, Any]] | None) -> None:
        self.kb_button.setEnabled(True)
        if articles is None:
            self.kb_results.setText(self._kb_fallback_html())
            return
        if not articles:
            self.kb_results.setText(
                self.tr(
                    "No article matches those words. Try other words, or describe the "
                    "problem in the form below. You can also reach support by {contact}."
                ).format(contact=contact_html(self.support.phone, self.support.email))
            )
            return
        items = []
        for article in articles[:8]:
            title = esc(article.get("title") or article.get("name") or self.tr("Article"))
            url = str(article.get("url") or article.get("link") or "")
            summary = esc(
                article.get("summary") or article.get("snippet") or article.get("excerpt") or ""
            )
            head = f'<a href="{esc(url)}">{title}</a>' if url else f"<b>{title}</b>"
            items.append(f"<li>{head}{' – ' + summary if summary else ''}</li>")
        self.kb_results.setText(
            self.tr("Articles that may answer your question:") + "<ul>" + "".join(items) + "</ul>"
        )

    def _kb_failed(self, exc: BaseException) -> None:
        self.kb_button.setEnabled(True)
        self.kb_results.setText(esc(error_sentence(exc)) + "<br>" + self._kb_fallback_html())

    # --- suggestions while the brief is typed ---------------------------------------------

    def _suggestions_box(self) -> None:
        """Articles under the brief, asked for after a pause in typing (not per key)."""
        self._suggest_timer = QtCore.QTimer(self)
        self._suggest_timer.setSingleShot(True)
        self._suggest_timer.setInterval(SUGGEST_DELAY_MS)
        self._suggest_timer.timeout.connect(self.suggest_articles)
        #: the text the shown (or awaited) suggestions are for; older answers are dropped
        self._suggested_for = ""
        brief = self.editors["brief"]
        self.kb_suggestions = wrapped("", brief.parentWidget(), links=True)
        self.kb_suggestions.setAccessibleName(self.tr("Articles that may help"))
        self.kb_suggestions.hide()
        cell = brief.parentWidget()
        layout = cell.layout() if cell is not None else None
        if isinstance(layout, QtWidgets.QBoxLayout):
            layout.insertWidget(layout.indexOf(brief) + 1, self.kb_suggestions)
        if isinstance(brief, QtWidgets.QLineEdit):
            brief.textEdited.connect(lambda _t: self._suggest_timer.start())

    def suggest_articles(self) -> None:
        query = self.value("brief").strip()
        if query == self._suggested_for:
            return
        self._suggested_for = query
        if len(query) < 3:
            self._show_suggestions([])
            return
        self._submit(
            lambda rt: rt.kb_suggest(query),
            on_done=lambda found: self._suggested(query, found),
            on_error=lambda exc: self._suggestion_failed(query, exc),
        )

    def _suggested(self, query: str, found: list[dict[str, Any]] | None) -> None:
        if query != self._suggested_for:
            return  # the brief changed since; its own answer is on the way
        self._show_suggestions(found or [])

    def _suggestion_failed(self, query: str, exc: BaseException) -> None:
        # suggestions are a help, not a step: no error in the customer's way
        log.info("no knowledge-base suggestions for the brief: %s", exc)
        if query == self._suggested_for:
            self._show_suggestions([])

    def _show_suggestions(self, articles: list[dict[str, Any]]) -> None:
        items = []
        for article in articles[:SUGGEST_MAX]:
            title = esc(str(article.get("title") or self.tr("Article")))
            url = str(article.get("url") or "")
            snippet = esc(str(article.get("snippet") or ""))
            head = f'<a href="{esc(url)}">{title}</a>' if url else f"<b>{title}</b>"
            items.append(f"<li>{head}{' – ' + snippet if snippet else ''}</li>")
        if not items:
            self.kb_suggestions.clear()
            self.kb_suggestions.hide()
            return
        self.kb_suggestions.setText(
            self.tr("These articles may already answer it:") + "<ul>" + "".join(items) + "</ul>"
        )
        self.kb_suggestions.show()

    # --- page 2: what will be sent ---------------------------------------------------------

    def _review_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(page)
        layout.setContentsMargins(20, 16, 20, 12)
        layout.addWidget(heading(self.tr("What will be sent"), page, 1.4))
        self.review = WhatWillBeSent(page)
        self.review.ticks_changed.connect(self._ticks_changed)
        layout.addWidget(self.review, 1)
        self.review_note = wrapped("", page)
        self.review_status = wrapped("", page)
        error_style(self.review_status)
        self.review_status.setAccessibleName(self.tr("Sending status"))
        layout.addWidget(self.review_note)
        layout.addWidget(self.review_status)
        self.back_button = QtWidgets.QPushButton(self.tr("Back to the form"), page)
        self.back_button.setAccessibleName(self.tr("Back to the form"))
        self.back_button.clicked.connect(self.show_form)
        self.send_progress = QtWidgets.QProgressBar(page)
        self.send_progress.setRange(0, 0)
        self.send_progress.setMaximumWidth(100)
        self.send_progress.setTextVisible(False)
        self.send_progress.setAccessibleName(self.tr("Sending"))
        self.send_progress.hide()
        self.send_button = QtWidgets.QPushButton(self.tr("Send request"), page)
        self.send_button.setAccessibleName(self.tr("Send request"))
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(self.back_button)
        bar.addStretch(1)
        bar.addWidget(self.send_progress)
        bar.addWidget(self.send_button)
        layout.addLayout(bar)
        return page

    def show_form(self) -> None:
        self.pages.setCurrentIndex(FORM_PAGE)
        self.resize(self.width(), max(self.height(), FORM_HEIGHT))
        self.review_button.setFocus()

    def show_review(self) -> bool:
        """Check every field; if all is well, show what will be sent."""
        problems = self.validate(show_all=True)
        written = [i for i in self.issues if any(i.values().values())]
        bad_issues = [i for i in written if i.check()]
        if bad_issues and not problems:
            self.form_status.setText(
                self.tr("A further problem needs your attention; it is marked above.")
            )
            bad_issues[0].brief.setFocus()
            return False
        if problems:
            first = next(name for name in self.editors if name in problems)
            self.form_status.setText(
                self.tr(
                    "%n field(s) need your attention; they are marked above.", "", len(problems)
                )
            )
            self.editors[first].setFocus()
            page = self.pages.widget(FORM_PAGE)
            scroll = page.findChild(QtWidgets.QScrollArea) if page is not None else None
            if scroll is not None:
                scroll.ensureWidgetVisible(self.editors[first])
            return False
        self.form_status.setText("")
        self._fill_review()
        self.pages.setCurrentIndex(REVIEW_PAGE)
        self.review_status.setText("")
        self.review.list.setFocus()
        return True

    def _fill_review(self) -> None:
        parts = sendable.parts(
            self.fields_for_request(), self.report, self.also_values(), self.unticked
        )
        # ids of parts not shown now (the report is not ready yet) stay unticked
        self.review.set_parts(parts, self.unticked)
        if self.report is None:
            self.review_note.setText(
                self.tr(
                    "This computer's system report is not ready yet; it is added here "
                    "when it is. You can send without it."
                )
            )
        else:
            self.review_note.setText("")

    def _ticks_changed(self, unticked: frozenset[str]) -> None:
        shown = {p.id for p in self.review.parts()}
        self.unticked = (self.unticked - shown) | set(unticked)
        for part in sendable.parts(
            self.fields_for_request(), self.report, self.also_values(), self.unticked
        ):
            if part.id == sendable.MANIFEST_PART:
                self.review.update_part(part)
        self._draft_timer.start()

    # --- sending --------------------------------------------------------------------------

    def report_payload(self) -> dict[str, Any] | None:
        return sendable.report_payload(self.report, self.unticked)

    def send(self) -> None:
        if self._sending:
            return
        fields = self.request_values()
        payload = self.report_payload()
        self._sending = True
        self.send_button.setEnabled(False)
        self.back_button.setEnabled(False)
        self.send_progress.show()
        self.review_status.setText("")
        self.review_note.setText(self.tr("Sending…"))
        self._submit(
            lambda rt: rt.submit_case(fields, payload),
            on_done=self._submitted,
            on_error=self._submit_failed,
        )

    def _sending_done(self) -> None:
        self._sending = False
        self.send_button.setEnabled(True)
        self.back_button.setEnabled(True)
        self.send_progress.hide()
        self.review_note.setText("")

    def _submit_failed(self, exc: BaseException) -> None:
        self._sending_done()
        if isinstance(exc, CaseInvalid):
            self.show_form()
            self.validate(show_all=True)
            self.form_status.setText(exc.message.splitlines()[0])
            return
        self.review_status.setText(error_sentence(exc))

    def _submitted(self, submission: Any) -> None:
        from vxassist.cases.outbox import State

        self._sending_done()
        item = submission.item
        if item.state is State.REJECTED:
            self.review_status.setText(
                self.tr("The desk refused the request: {why}").format(why=item.last_error)
            )
            return
        self.last_submission = submission
        self.drafts_clear()
        self.result_text.setText(self.result_html(submission))
        self.pages.setCurrentIndex(RESULT_PAGE)
        # the answer is a few lines: no tall empty page under it
        answer = self.pages.currentWidget()
        if answer is not None:
            answer.adjustSize()
            self.resize(self.width(), max(RESULT_MIN_HEIGHT, answer.sizeHint().height() + 24))
        self.close_button.setFocus()
        self.case_submitted.emit(submission)

    def drafts_clear(self) -> None:
        """Forget the draft (after a send); a save still on its way is let finish first."""
        self._draft_timer.stop()
        self._draft_again = False
        if self._draft_saving:
            self._clear_after_save = True
            return
        store = self.drafts
        self._submit(_in_thread(store.clear), on_error=self._draft_load_failed)

    def result_html(self, submission: Any) -> str:
        """The answer in the customer's words: case and deadline, queued, or no contract."""
        from vxassist.cases.outbox import State

        item = submission.item
        answer: dict[str, Any] = dict(item.answer or {})
        support = self.support
        contact = contact_html(support.phone, support.email)
        fields = item.body
        if item.state is State.DELIVERED and answer.get("case_number") is not None:
            number = answer["case_number"]
            self.result_title.setText(self.tr("Case {n} is filed").format(n=number))
            lines = [
                self.tr(
                    "Your case number is <b>{n}</b>. Quote it whenever you contact support "
                    "about this problem."
                ).format(n=number),
                self.tr("Priority {p} ({label}). A response is due by:<br>{due}").format(
                    p=esc(answer.get("priority")),
                    label=esc(answer.get("priority_label", "")),
                    due=deadline_lines(answer.get("response_due")),
                ),
            ]
            for related in answer.get("related") or []:
                if isinstance(related, dict) and related.get("case_number") is not None:
                    lines.append(
                        self.tr("Your further issue “{brief}” is case {n}.").format(
                            brief=esc(related.get("brief", "")), n=related["case_number"]
                        )
                    )
            lines.append(
                self.tr(
                    "<b>What happens next:</b> an engineer contacts {name} at {phone} or "
                    "{email}. If the engineer needs to look at this computer, you are asked "
                    "first, and nothing happens without your approval. My Cases shows the "
                    "case and every change to it."
                ).format(
                    name=esc(fields.get("contact_name", "")),
                    phone=esc(fields.get("contact_phone", "")),
                    email=esc(fields.get("contact_email", "")),
                )
            )
            return _paragraphs(*lines)
        if item.state is State.DELIVERED:
            self.result_title.setText(self.tr("Received, but without a case number"))
            reference = answer.get("reference", "")
            why = answer.get("message") or self.tr(
                "A case number is given only to a customer with an active maintenance contract."
            )
            return _paragraphs(
                esc(why),
                self.tr(
                    "Your reference is <b>{ref}</b>. To reach support now: {contact}. "
                    "Quote the reference."
                ).format(ref=esc(reference), contact=contact),
            )
        if item.state is State.PENDING:
            self.result_title.setText(self.tr("Queued: it goes when the connection is back"))
            estimate = submission.estimate.isoformat() if submission.estimate else None
            return _paragraphs(
                self.tr(
                    "Support cannot be reached right now. Your request is saved on this "
                    "computer and goes by itself as soon as the connection is back; you do "
                    "not need to send it again."
                ),
                self.tr("Why: {why}").format(why=esc(item.last_error or self.tr("no connection"))),
                self.tr(
                    "Once it arrives it gets a case number. A response is due by about:<br>{due}"
                ).format(due=deadline_lines(estimate)),
                self.tr("Urgent? Call support: {contact}.").format(contact=contact),
            )
        if item.state is State.EMAILED:
            self.result_title.setText(self.tr("Sent by e-mail"))
            return _paragraphs(
                self.tr(
                    "Support's desk could not be reached, so your request was e-mailed to "
                    "{to}. Support answers by e-mail or phone."
                ).format(to=esc(item.fallback_to))
            )
        self.result_title.setText(self.tr("Saved on this computer"))
        return _paragraphs(
            self.tr(
                "Your request could not be sent ({why}). It is saved as {where}. Send that "
                "file to support, or call: {contact}."
            ).format(
                why=esc(item.last_error.rstrip(".")), where=esc(item.fallback_to), contact=contact
            )
        )

    # --- page 3: the answer ------------------------------------------------------------------

    def _result_page(self) -> QtWidgets.QWidget:
        page = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(page)
        layout.setContentsMargins(24, 20, 24, 16)
        self.result_title = heading("", page, 1.5)
        self.result_text = wrapped("", page, links=True)
        self.result_text.setAccessibleName(self.tr("Answer from support"))
        layout.addWidget(self.result_title)
        layout.addWidget(self.result_text)
        layout.addStretch(1)
        bar = QtWidgets.QHBoxLayout()
        self.new_button = QtWidgets.QPushButton(self.tr("New request"), page)
        self.new_button.setAccessibleName(self.tr("New request"))
        self.new_button.clicked.connect(self.new_request)
        bar.addWidget(self.new_button)
        bar.addStretch(1)
        if self._open_cases is not None:
            cases = QtWidgets.QPushButton(self.tr("My Cases"), page)
            cases.setAccessibleName(self.tr("My Cases"))
            cases.clicked.connect(self._open_cases)
            bar.addWidget(cases)
        self.close_button = QtWidgets.QPushButton(self.tr("Close"), page)
        self.close_button.setAccessibleName(self.tr("Close"))
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.close)
        bar.addWidget(self.close_button)
        layout.addLayout(bar)
        return page

    def new_request(self) -> None:
        """An empty problem; company, contact and system stay as they were."""
        for name in (
            "brief",
            "details",
            "steps_taken",
            "third_party_app",
            "third_party_version",
            "continues_case",
            "priority",
        ):
            self.set_value(name, "")
            self.touched.discard(name)
        for issue in list(self.issues):
            self._remove_issue(issue)
        self.unticked = set()
        self.validate()
        self.show_form()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if self._draft_timer.isActive():
            self.save_draft()
        super().closeEvent(event)


class RequestWindow(RequestSupportWindow):
    """The window as the tray opens it: ``RequestWindow(app)``."""

    def __init__(self, app: Any, **_kwargs: Any) -> None:
        super().__init__(
            app.bridge,
            app.ctx.settings.support,
            DraftStore.for_data_dir(app.ctx.paths.data_dir),
            open_cases=lambda: app.open_window("cases"),
            paths=app.ctx.paths,
        )
