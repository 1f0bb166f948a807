"""First run: enroll this computer with the support desk (address and the vendor's code)."""

from __future__ import annotations

from typing import Any

from vxassist.ui.qt import Qt, QtWidgets, Signal

CTX = "EnrollWindow"


class EnrollWindow(QtWidgets.QWidget):
    """A short page: desk address, enrollment code, Enroll; every failure as a sentence."""

    #: enrollment succeeded (the desk's answer)
    enrolled = Signal(dict)

    def __init__(self, app: Any, **_kwargs: Any) -> None:
        super().__init__()
        self._app = app
        self.setObjectName("enroll-window")
        self.setWindowTitle(self.tr("vxassist: enroll this computer"))
        self.setMinimumWidth(460)

        title = QtWidgets.QLabel(self.tr("Connect this computer to your support desk"))
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        title.setFont(font)
        title.setWordWrap(True)
        intro = QtWidgets.QLabel(
            self.tr(
                "Support gave you the desk's address and an enrollment code. Enter both once; "
                "after that you can ask for help and engineers can ask to connect, always "
                "with your consent."
            )
        )
        intro.setWordWrap(True)

        self.desk = QtWidgets.QLineEdit(str(app.ctx.settings.desk_url or ""))
        self.desk.setObjectName("desk-address")
        self.desk.setPlaceholderText(self.tr("https://support.example.com"))
        self.desk.setAccessibleName(self.tr("Desk address"))
        self.code = QtWidgets.QLineEdit()
        self.code.setObjectName("enrollment-code")
        self.code.setPlaceholderText(self.tr("the code from support"))
        self.code.setAccessibleName(self.tr("Enrollment code"))
        form = QtWidgets.QFormLayout()
        form.addRow(self.tr("&Desk address"), self.desk)
        form.addRow(self.tr("Enrollment &code"), self.code)
        for row in range(form.rowCount()):
            label = form.itemAt(row, QtWidgets.QFormLayout.ItemRole.LabelRole)
            field = form.itemAt(row, QtWidgets.QFormLayout.ItemRole.FieldRole)
            if label is not None and field is not None:
                widget, buddy = label.widget(), field.widget()
                if isinstance(widget, QtWidgets.QLabel) and buddy is not None:
                    widget.setBuddy(buddy)

        self.status = QtWidgets.QLabel()
        self.status.setObjectName("status")
        self.status.setWordWrap(True)
        self.status.setAccessibleName(self.tr("Enrollment status"))
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        problem = getattr(app, "enrollment_problem", None)
        if problem is not None and _is_vx(problem) and app.ctx.settings.desk_url:
            # enrolled once, but something is missing now: say what
            self._say(str(problem), error=True)

        self.enroll_button = QtWidgets.QPushButton(self.tr("&Enroll"))
        self.enroll_button.setObjectName("enroll")
        self.enroll_button.setAccessibleName(self.tr("Enroll this computer"))
        self.enroll_button.setDefault(True)
        self.enroll_button.setAutoDefault(True)
        self.enroll_button.clicked.connect(self.submit)
        self.close_button = QtWidgets.QPushButton(self.tr("Later"))
        self.close_button.setObjectName("close")
        self.close_button.setAccessibleName(self.tr("Close this window"))
        self.close_button.clicked.connect(self.close)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.enroll_button)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addSpacing(8)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addLayout(buttons)

        self.desk.textChanged.connect(self._update_enabled)
        self.code.textChanged.connect(self._update_enabled)
        self.desk.returnPressed.connect(self.code.setFocus)
        self.code.returnPressed.connect(self.submit)
        self._busy = False
        self._update_enabled()
        (self.code if self.desk.text() else self.desk).setFocus()

    def _update_enabled(self) -> None:
        ready = bool(self.desk.text().strip() and self.code.text().strip())
        self.enroll_button.setEnabled(ready and not self._busy)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("error", error)
        self.status.setStyleSheet("color: #a02b1f;" if error else "")

    def submit(self) -> None:
        desk, code = self.desk.text().strip(), self.code.text().strip()
        if self._busy or not desk or not code:
            return
        if "://" not in desk:
            desk = "https://" + desk
        self._busy = True
        self._update_enabled()
        self.desk.setEnabled(False)
        self.code.setEnabled(False)
        self._say(self.tr("Enrolling with {desk}…").format(desk=desk))
        self._app.bridge.submit(
            lambda rt: rt.enroll(desk, code), on_done=self._done, on_error=self._failed
        )

    def _done(self, answer: dict[str, Any]) -> None:
        self._busy = False
        self._say(
            self.tr(
                "This computer is enrolled with {desk}. You can now request support from the "
                "vxassist menu."
            ).format(desk=answer.get("desk_url", ""))
        )
        self.code.clear()
        self.desk.setEnabled(True)
        self.code.setEnabled(True)
        self.close_button.setText(self.tr("Close"))
        self.close_button.setDefault(True)
        self.close_button.setFocus()
        self._update_enabled()
        self.enrolled.emit(answer)

    def _failed(self, exc: BaseException) -> None:
        self._busy = False
        if _is_vx(exc):
            text = str(exc)
        else:
            text = self.tr(
                "Enrollment did not work for a reason vxassist does not know ({what}); try "
                "again, and if it keeps failing, call support."
            ).format(what=type(exc).__name__)
        self._say(text, error=True)
        self.desk.setEnabled(True)
        self.code.setEnabled(True)
        self.code.setFocus()
        self.code.selectAll()
        self._update_enabled()


def _is_vx(exc: object) -> bool:
    from vxassist.errors import VxError

    return isinstance(exc, VxError)
