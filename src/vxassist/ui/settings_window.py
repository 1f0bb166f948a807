"""Settings: the desk and enrollment, notifications, start at login, and what policy locks.

The "This app" box also shows this version and whether the desk names a newer
one (asked apart from the rest, so a slow desk never holds the window back).

The files behind this window (settings, policy, enrollment, the login item) are
read and written on the agent's thread, never on the GUI thread.
"""

from __future__ import annotations

import asyncio
import tomllib
from dataclasses import dataclass
from typing import Any

from vxassist.paths import Paths
from vxassist.ui.qt import Qt, QtWidgets

CTX = "SettingsWindow"


@dataclass(frozen=True)
class UiPrefs:
    """The tray's own preferences (the ``[ui]`` table of the user's settings file)."""

    notifications: bool = True


def ui_prefs(paths: Paths) -> UiPrefs:
    """Blocking: read the ``[ui]`` table; defaults where it is missing or unreadable."""
    try:
        with paths.settings_file.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return UiPrefs()
    table = data.get("ui", {})
    if not isinstance(table, dict):
        return UiPrefs()
    return UiPrefs(notifications=bool(table.get("notifications", True)))


def save_ui_prefs(paths: Paths, prefs: UiPrefs) -> None:
    """Blocking: write the ``[ui]`` table into the user's settings file."""
    from vxassist.settings import update_user_settings

    update_user_settings(paths, {"ui": {"notifications": prefs.notifications}})


@dataclass(frozen=True)
class PolicyView:
    """What the machine policy allows, and why it is so, in words."""

    rows: tuple[tuple[str, str], ...]
    why: str


@dataclass(frozen=True)
class SettingsView:
    desk_url: str
    agent_id: str
    enrolled: bool
    prefs: UiPrefs
    autostart_supported: bool
    autostart_on: bool
    policy: PolicyView
    #: the per-machine install starts vxassist at every user's login (Windows HKLM Run)
    autostart_machine_wide: bool = False


def _tr(text: str) -> str:
    from vxassist.ui.qt import tr

    return tr(CTX, text)


def describe_policy(paths: Paths, remote: Any) -> PolicyView:
    """Blocking (stats the policy file): the policy's limits as label/value rows."""
    from vxassist.settings import policy_file_trusted

    scopes_words = {
        "shell": _tr("a shell"),
        "files": _tr("files"),
        "forward": _tr("forwards to local services"),
    }
    order = [s for s in ("shell", "files", "forward") if s in remote.scopes]
    scopes = ", ".join(scopes_words[s] for s in order) or _tr("nothing")
    rows = (
        (_tr("Remote sessions"), _tr("allowed") if remote.enabled else _tr("switched off")),
        (_tr("Engineers may use"), scopes),
        (_tr("Longest session"), _tr("{n} minutes").format(n=remote.max_minutes)),
        (_tr("Time to answer a request"), _tr("{n} seconds").format(n=remote.consent_timeout_s)),
        (
            _tr("Folders they may reach"),
            (", ".join(remote.file_roots) or _tr("your home folder"))
            if "files" in remote.scopes
            else _tr("none (files are not allowed)"),
        ),
        (
            _tr("Local services they may reach"),
            (", ".join(remote.forward_targets) or _tr("none"))
            if "forward" in remote.scopes
            else _tr("none (forwards are not allowed)"),
        ),
        (
            _tr("Unattended access"),
            _tr("allowed by the administrator") if remote.unattended else _tr("never"),
        ),
    )
    policy = paths.policy_file
    if not policy.exists():
        why = _tr(
            "No machine policy is installed, so vxassist's own limits apply. An administrator "
            "can tighten them in {path}."
        ).format(path=policy)
    else:
        trusted, reason = policy_file_trusted(policy)
        if trusted:
            why = _tr(
                "Set by this computer's administrator in {path}. You can tighten these in your "
                "own settings, never loosen them."
            ).format(path=policy)
        else:
            why = _tr(
                "Remote access is off: the policy file {path} could have been changed by "
                "someone who is not an administrator ({reason}). Ask your administrator to "
                "fix its owner and permissions."
            ).format(path=policy, reason=reason)
    return PolicyView(rows, why)


def load_view(ctx: Any) -> SettingsView:
    """Blocking: everything the window shows, read fresh."""
    from vxassist.cases.enroll import read_enrollment
    from vxassist.errors import VxError
    from vxassist.ui.platform import autostart

    settings = ctx.reload_settings()
    try:
        enrollment = read_enrollment(ctx.paths)
    except VxError:
        enrollment = {}
    login = autostart()
    machine_wide = getattr(login, "machine_wide", None)
    return SettingsView(
        desk_url=settings.desk_url,
        agent_id=str(enrollment.get("agent_id") or ""),
        enrolled=bool(enrollment),
        prefs=ui_prefs(ctx.paths),
        autostart_supported=login.supported,
        autostart_on=login.supported and login.enabled(),
        policy=describe_policy(ctx.paths, settings.remote),
        autostart_machine_wide=bool(login.supported and machine_wide and machine_wide()),
    )


def _ask_version(ctx: Any) -> str:
    """Blocking (asks the desk): whether it names a newer version, as one sentence."""
    from vxassist.version import ask_desk

    return ask_desk(ctx.paths, ctx.settings).sentence


def _set_autostart(on: bool) -> bool:
    from vxassist.ui.platform import autostart

    login = autostart()
    login.set_enabled(on)
    return login.enabled()


class SettingsWindow(QtWidgets.QWidget):
    """Desk and enrollment, notifications, start at login; the policy read-only."""

    def __init__(self, app: Any, **_kwargs: Any) -> None:
        super().__init__()
        self._app = app
        self.view: SettingsView | None = None
        self.setObjectName("settings-window")
        self.setWindowTitle(self.tr("vxassist: settings"))
        self.setMinimumWidth(520)

        desk_box = QtWidgets.QGroupBox(self.tr("Support desk"))
        self.desk_label = QtWidgets.QLabel(self.tr("Loading…"))
        self.desk_label.setObjectName("desk")
        self.desk_label.setWordWrap(True)
        self.desk_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.desk_label.setAccessibleName(self.tr("Desk address and enrollment"))
        self.enroll_button = QtWidgets.QPushButton(self.tr("Enroll again…"))
        self.enroll_button.setAccessibleName(self.tr("Enroll this computer again"))
        self.enroll_button.clicked.connect(lambda: self._app.open_window("enroll"))
        desk_row = QtWidgets.QHBoxLayout(desk_box)
        desk_row.addWidget(self.desk_label, 1)
        desk_row.addWidget(self.enroll_button, 0, Qt.AlignmentFlag.AlignTop)

        app_box = QtWidgets.QGroupBox(self.tr("This app"))
        self.notifications = QtWidgets.QCheckBox(self.tr("Tell me when one of my cases changes"))
        self.notifications.setObjectName("notifications")
        self.notifications.setAccessibleName(self.tr("Notifications when a case changes"))
        self.autostart = QtWidgets.QCheckBox(self.tr("Start vxassist when I log in"))
        self.autostart.setObjectName("autostart")
        self.autostart.setAccessibleName(self.tr("Start at login"))
        self.app_status = QtWidgets.QLabel()
        self.app_status.setObjectName("app-status")
        self.app_status.setWordWrap(True)
        self.app_status.setVisible(False)
        self.version_label = QtWidgets.QLabel(self._version_text(self.tr("asking the desk…")))
        self.version_label.setObjectName("version")
        self.version_label.setWordWrap(True)
        self.version_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.version_label.setAccessibleName(self.tr("Version and updates"))
        app_layout = QtWidgets.QVBoxLayout(app_box)
        app_layout.addWidget(self.version_label)
        app_layout.addWidget(self.notifications)
        app_layout.addWidget(self.autostart)
        app_layout.addWidget(self.app_status)
        for box in (self.notifications, self.autostart):
            box.setEnabled(False)

        policy_box = QtWidgets.QGroupBox(self.tr("Remote sessions on this computer"))
        self.policy_form = QtWidgets.QFormLayout()
        self.policy_why = QtWidgets.QLabel()
        self.policy_why.setObjectName("policy-why")
        self.policy_why.setWordWrap(True)
        self.policy_why.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.policy_why.setAccessibleName(self.tr("Why these limits apply"))
        policy_layout = QtWidgets.QVBoxLayout(policy_box)
        policy_layout.addLayout(self.policy_form)
        policy_layout.addWidget(self.policy_why)

        close = QtWidgets.QPushButton(self.tr("Close"))
        close.setAccessibleName(self.tr("Close settings"))
        close.clicked.connect(self.close)
        bottom = QtWidgets.QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)

        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(desk_box)
        layout.addWidget(app_box)
        layout.addWidget(policy_box)
        layout.addStretch(1)
        layout.addLayout(bottom)

        self.notifications.toggled.connect(self._notifications_toggled)
        self.autostart.toggled.connect(self._autostart_toggled)
        self.reload()

    # --- loading -------------------------------------------------------------------

    def reload(self) -> None:
        ctx = self._app.ctx
        self._app.bridge.submit(
            lambda _rt: asyncio.to_thread(load_view, ctx),
            on_done=self.show_view,
            on_error=self._load_failed,
        )
        self._app.bridge.submit(
            lambda _rt: asyncio.to_thread(_ask_version, ctx),
            on_done=lambda sentence: self.version_label.setText(self._version_text(sentence)),
            on_error=lambda exc: self.version_label.setText(self._version_text(str(exc))),
        )

    def _version_text(self, sentence: str) -> str:
        from vxassist import __version__

        return self.tr("vxassist {version}: {sentence}").format(
            version=__version__, sentence=sentence
        )

    def show_view(self, view: SettingsView) -> None:
        self.view = view
        if view.enrolled:
            text = self.tr("Enrolled with {desk}").format(desk=view.desk_url or "?")
            if view.agent_id:
                text += self.tr(" as agent {id}").format(id=view.agent_id)
        elif view.desk_url:
            text = self.tr("Not enrolled yet (desk {desk})").format(desk=view.desk_url)
        else:
            text = self.tr("Not enrolled yet: no support desk is set.")
        self.desk_label.setText(text)
        self.enroll_button.setText(
            self.tr("Enroll again…") if view.enrolled else self.tr("Enroll…")
        )
        for box, value in (
            (self.notifications, view.prefs.notifications),
            (self.autostart, view.autostart_on),
        ):
            box.blockSignals(True)
            box.setChecked(value)
            box.blockSignals(False)
        self.notifications.setEnabled(True)
        self.autostart.setEnabled(view.autostart_supported and not view.autostart_machine_wide)
        if not view.autostart_supported:
            self.autostart.setToolTip(self.tr("Start at login is not offered on this system."))
        elif view.autostart_machine_wide:
            self.autostart.setToolTip(
                self.tr(
                    "Your administrator starts vxassist at every login for all users of this "
                    "computer; only the administrator can turn that off."
                )
            )
        while self.policy_form.rowCount():
            self.policy_form.removeRow(0)
        for name, text in view.policy.rows:
            shown = QtWidgets.QLabel(text)
            shown.setWordWrap(True)
            shown.setAccessibleName(name)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.policy_form.addRow(name + ":", shown)
        self.policy_why.setText(view.policy.why)

    def _load_failed(self, exc: BaseException) -> None:
        self.desk_label.setText(str(exc))

    # --- changes -------------------------------------------------------------------

    def _notifications_toggled(self, on: bool) -> None:
        paths = self._app.ctx.paths
        prefs = UiPrefs(notifications=on)
        self._app.prefs = prefs
        self._app.bridge.submit(
            lambda _rt: asyncio.to_thread(save_ui_prefs, paths, prefs),
            on_done=lambda _r: self._status(""),
            on_error=lambda exc: self._change_failed(self.notifications, not on, exc),
        )

    def _autostart_toggled(self, on: bool) -> None:
        self.autostart.setEnabled(False)

        def done(now_on: bool) -> None:
            self.autostart.setEnabled(True)
            self.autostart.blockSignals(True)
            self.autostart.setChecked(now_on)
            self.autostart.blockSignals(False)
            self._status("")

        def failed(exc: BaseException) -> None:
            self.autostart.setEnabled(True)
            self._change_failed(self.autostart, not on, exc)

        self._app.bridge.submit(
            lambda _rt: asyncio.to_thread(_set_autostart, on), on_done=done, on_error=failed
        )

    def _change_failed(self, box: QtWidgets.QCheckBox, back: bool, exc: BaseException) -> None:
        box.blockSignals(True)
        box.setChecked(back)
        box.blockSignals(False)
        self._status(
            self.tr("That change could not be saved ({why}); check the settings folder.").format(
                why=exc
            )
        )

    def _status(self, text: str) -> None:
        self.app_status.setText(text)
        self.app_status.setVisible(bool(text))
