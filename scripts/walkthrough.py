"""Walk the tray app's whole story as a new customer would, and picture every step.

Run through ``scripts/walkthrough.sh`` (Xvfb with ``trayer`` as the tray). Real
parts only: a desk on SQLite and the OpenSSH relay (the demo's own building
blocks, :class:`vxassist.demo.DemoStack`), the tray app in this process over the
real agent runtime with a fresh VXASSIST_HOME, and the engineer's real commands
(``vxassist engineer request``, ``ssh`` through the relay, ``vxassist engineer
extend``). The customer's clicks go to the real widgets. After each step the
whole screen (tray included) is saved as ``docs/walkthrough/NN-step.png``. A step
that does not happen stops the walk with a sentence and exit code 1.

    scripts/walkthrough.sh [--out DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: a generous bound for every step on a loaded machine
STEP_TIMEOUT_S = 90.0
#: the call records the engineer looks at (the files folder of the demo's host)
CALL_LOG = (
    "2026-12-04 08:14:02 ext 200 -> 5551234 00:03:12 recorded\n"
    "2026-12-04 08:19:47 ext 201 -> 5559876 00:00:41 recorded\n"
    "2026-12-04 08:22:10 ext 200 -> 5550042 00:07:55 recorded\n"
)
#: what the engineer types in the shell, and what it prints (live view, replay)
TYPED = ("ls -l", "tail -n 2 callacct.log", 'echo "import ok: $(wc -l < callacct.log) records"')
SEEN = "import ok: 3 records"


class WalkError(Exception):
    """A step of the walk did not happen; the message says which."""


# --- the Qt side -------------------------------------------------------------------------


def settle(rounds: int = 20, pause_s: float = 0.02) -> None:
    from vxassist.ui.qt import QtWidgets

    app = QtWidgets.QApplication.instance()
    for _ in range(rounds):
        if app is not None:
            app.processEvents()
        time.sleep(pause_s)


def wait_until(check: Callable[[], Any], what: str, timeout_s: float = STEP_TIMEOUT_S) -> Any:
    """Pump Qt until ``check()`` is truthy; else fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        settle(2)
    raise WalkError(f"{what} did not happen within {timeout_s:.0f} s.")


class Camera:
    """Whole-screen pictures, numbered in walk order."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.count = 0
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("[0-9][0-9]-*.png"):
            old.unlink()

    def shoot(self, name: str) -> Path:
        from vxassist.ui.qt import QtGui

        settle(25)
        self.count += 1
        path = self.out / f"{self.count:02d}-{name}.png"
        screen = QtGui.QGuiApplication.primaryScreen()
        if screen is None or not screen.grabWindow(0).save(str(path)):
            raise WalkError(f"The screen could not be saved to {path}.")
        print(f"walkthrough: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        return path


def place(window: Any, x: int = 40, y: int = 48, width: int = 0) -> None:
    """Put a window below the tray bar, as a window manager would (Xvfb has none)."""
    from vxassist.ui.qt import QtGui

    screen = QtGui.QGuiApplication.primaryScreen()
    assert screen is not None
    room = screen.availableGeometry()
    hint = window.sizeHint()
    width = min(max(window.width(), hint.width(), width), room.width() - x - 20)
    height = min(max(window.height(), hint.height()), room.height() - y - 20)
    window.resize(width, height)
    window.move(x, y)
    window.raise_()
    window.activateWindow()


def menu_item(app: Any, starts: str, camera: Camera | None = None, name: str = "") -> None:
    """Open the tray icon's menu under the icon, maybe picture it, and pick an entry."""
    tray = app.tray
    if tray is None:
        raise WalkError("The tray icon is not there.")
    spot = tray.icon.geometry()
    tray.menu.popup(spot.bottomLeft() if spot.isValid() else tray.menu.pos())
    wait_until(lambda: tray.menu.isVisible(), "The tray menu opening")
    entry = next((a for a in tray.menu.actions() if a.text().startswith(starts)), None)
    if entry is None:
        raise WalkError(f"The tray menu has no {starts!r} entry.")
    tray.menu.setActiveAction(entry)
    if camera is not None:
        camera.shoot(name)
    tray.menu.hide()
    entry.trigger()


# --- the engineer's side -----------------------------------------------------------------


def vx(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vxassist", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(proc: subprocess.Popen[str], what: str) -> dict[str, Any]:
    """The JSON a finished engineer command printed; else fail naming ``what``."""
    wait_until(lambda: proc.poll() is not None, what)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise WalkError(f"{what} failed (exit {proc.returncode}): {err.strip()[-300:]}")
    data = json.loads(out)
    if not isinstance(data, dict):
        raise WalkError(f"{what} printed no JSON object.")
    return data


# --- the walk ----------------------------------------------------------------------------


def walk(out: Path, folder: Path) -> None:
    from vxassist.demo import DEMO_CASE, DemoStack
    from vxassist.settings import update_user_settings

    stack = DemoStack(folder / "demo", relay="auto", consent_timeout_s=300, say=lambda _t: None)
    try:
        # the vendor's side: desk on SQLite, relay, a contract, a code and an engineer
        stack.prepare()
        stack.start_relay()
        stack.start_desk()
        issued = stack.issue_code_and_engineer()
        stack.run(
            ["engineer", "login", "--desk", stack.desk_url, "--token", issued["token"]],
            stack.engineer_env(),
            "log the engineer in",
        )
        stack.run(
            [
                "desk", "kb", "add", "--db", stack.db_url,
                "--title", "Call records missing after a PBX firmware update",
                "--body", KB_ARTICLE,
                "--tags", "smdr,import",
            ],
            stack.desk_env(),
            "write a knowledge-base article",
        )  # fmt: skip
        print(f"walkthrough: desk {stack.desk_url}, relay {stack.relay_label}")
        # the customer's computer: a fresh vxassist home with the vendor's support site
        os.environ.update({k: v for k, v in stack.host_env().items() if k.startswith("VXASSIST_")})
        from vxassist.paths import Paths

        update_user_settings(
            Paths.from_env().ensure(), {"support": {"website": "https://support.example.com/kb"}}
        )
        (stack.root / "files" / "callacct.log").write_text(CALL_LOG)
        customer(Camera(out), stack, issued["code"], dict(DEMO_CASE))
    finally:
        stack.stop()


KB_ARTICLE = """\
When call records stop appearing after the PBX's firmware was updated, the PBX
often stopped sending the extension field in its SMDR output. Check the SMDR
settings on the PBX, tick the extension field again, and restart the import.
"""


def customer(camera: Camera, stack: Any, code: str, case: dict[str, str]) -> None:
    from vxassist.cliutil import Context
    from vxassist.runtime import AgentRuntime
    from vxassist.ui.app import TrayApp
    from vxassist.ui.consent import ExtensionPrompt, QtPrompter
    from vxassist.ui.qt import QtWidgets
    from vxassist.ui.request import RESULT_PAGE

    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["vxassist"])
    assert isinstance(qapp, QtWidgets.QApplication)
    qapp.setApplicationName("vxassist")
    qapp.setApplicationDisplayName("vxassist")
    qapp.setQuitOnLastWindowClosed(False)
    if not QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
        raise WalkError("There is no system tray on this display; run scripts/walkthrough.sh.")

    ctx = Context.create()
    prompter = QtPrompter()
    app = TrayApp(
        ctx,
        lambda p, emit: AgentRuntime(ctx, p, emit, face="tray", case_check_every_s=2.0),
        prompter,
        use_tray=True,
    )
    events: list[dict[str, Any]] = []
    app.bridge.event_received.connect(events.append)
    app.start()
    shell: subprocess.Popen[bytes] | None = None
    try:
        # 1. first run: not enrolled, so the enrollment page opens by itself
        enroll: Any = wait_until(
            lambda: app.windows.window("enroll"), "The enrollment page on first run"
        )
        place(enroll)
        enroll.desk.setText(stack.desk_url)
        enroll.code.setFocus()
        enroll.code.setText(code)
        camera.shoot("first-run-enrollment")

        enroll.enroll_button.click()
        wait_until(lambda: "is enrolled" in enroll.status.text(), "Enrollment")
        wait_until(lambda: app.state.enrolled, "The tray knowing it is enrolled")
        camera.shoot("enrolled")
        enroll.close_button.click()

        # 2. Request Support from the tray's menu, the knowledge base first
        menu_item(app, "Request Support", camera, "tray-menu")
        request: Any = wait_until(lambda: app.windows.window("request"), "Request Support")
        place(request)
        wait_until(lambda: request.report is not None, "The system report for the form")
        request.kb_query.setFocus()
        request.kb_query.setText("call records missing")
        request.kb_button.click()
        wait_until(
            lambda: (
                request.kb_button.isEnabled() and "PBX firmware update" in request.kb_results.text()
            ),
            "The knowledge base's answer from the desk",
        )
        camera.shoot("knowledge-base")

        # 3. fill the form, as the customer types it (the report filled the system part)
        for name, text in case.items():
            if name in request.editors and not request.value(name).strip():
                request.set_value(name, text, touched=True)
        for name in ("company", "contact_name", "contact_phone", "contact_email", "brief"):
            request.set_value(name, case[name], touched=True)
        request.set_value("details", case["details"], touched=True)
        request.set_value("steps_taken", case["steps_taken"], touched=True)
        request.priority_buttons[int(case["priority"]) - 1].click()
        problems = request.validate(show_all=True)
        if problems:
            raise WalkError(f"The form still has problems: {problems}.")
        focus = request.editors["brief"]
        focus.setFocus()
        scroll = request.findChild(QtWidgets.QScrollArea)
        if scroll is not None:  # the problem's part, with the priorities, in view
            bar = scroll.verticalScrollBar()
            bar.setValue(bar.maximum())
        camera.shoot("form-filled")

        # 4. review what will be sent, and untick a part
        if not request.show_review():
            raise WalkError("The review page did not open.")
        parts = [p.id for p in request.review.parts()]
        left_out = next((p for p in parts if p == "section:software"), None) or next(
            (p for p in parts if p.startswith("section:")), None
        )
        if left_out is None:
            raise WalkError(f"The review has no report section to untick ({parts}).")
        request.review.set_ticked(left_out, False)
        request.review.select(left_out)
        if left_out not in request.unticked:
            raise WalkError(f"Unticking {left_out} did not take.")
        camera.shoot("review-untick")

        # 5. submit: the case number and the response deadline
        request.send_button.click()
        wait_until(lambda: request.pages.currentIndex() == RESULT_PAGE, "Submitting the request")
        number = request.last_submission.item.case_number
        if not isinstance(number, int):
            raise WalkError("The request got no case number.")
        if "(Pacific time)" not in request.result_text.text():
            raise WalkError("The answer does not show the response deadline.")
        camera.shoot("case-number")
        request.close_button.click()

        # 6. the engineer asks for a session; the prompt comes up
        asking = vx(
            [
                "engineer", "request", str(number),
                "--scope", "shell", "--scope", "files", "--minutes", "15",
                "--reason", "look at the call record import",
                "--json",
            ],
            stack.engineer_env(),
        )  # fmt: skip
        dialog: Any = wait_until(
            lambda: (prompter.open_prompts() or [None])[0], "The consent prompt"
        )
        place(dialog, x=360, y=140)
        # the customer allows the shell only (no files) and for 10 minutes, not 15
        for scope, box in dialog.scope_boxes.items():
            if str(scope) == "files":
                box.setChecked(False)
        dialog.minutes.setValue(10)
        wait_until(lambda: dialog.allow_button.isEnabled(), "The Allow button arming")
        if [str(s) for s in dialog.picked_scopes()] != ["shell"]:
            raise WalkError("The narrowed scope did not take.")
        camera.shoot("consent-prompt")
        dialog.allow_button.click()
        session = finished(asking, "The engineer's session request")
        if session.get("status") != "approved" or session.get("scopes") not in (None, ["shell"]):
            raise WalkError(f"The session was not approved as narrowed: {session}.")
        sid = str(session["session_id"])

        # 7. live: the window counts down, the engineer types, the customer watches
        window: Any = wait_until(lambda: app.session_window, "The live-session window")
        panel: Any = wait_until(lambda: window.panel(sid), "The session's panel")
        place(window, x=40, y=48)
        shell = subprocess.Popen(
            ["ssh", "-F", str(session["ssh_config"]), "-tt", f"vx-session-{sid}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: panel.terminals, "The engineer's shell in the live view")
        assert shell.stdin is not None
        time.sleep(1.0)  # the shell's prompt first
        for line in TYPED:
            shell.stdin.write(line.encode() + b"\n")
            shell.stdin.flush()
            time.sleep(0.5)
        view = next(iter(panel.terminals.values()))
        wait_until(
            lambda: SEEN in view.text() and TYPED[1] in view.text(),
            "The engineer's typed commands in the live view",
        )
        wait_until(
            lambda: any("opened a shell" in line for line in panel.activity_lines()),
            "'opened a shell' in the activity feed",
        )
        camera.shoot("live-session")

        # 8. the engineer asks for 5 more minutes; the customer approves in the window
        before = panel.time_left.text()
        extending = vx(
            [
                "engineer", "extend", sid, "--minutes", "5",
                "--reason", "the import test needs a few more minutes", "--json",
            ],
            stack.engineer_env(),
        )  # fmt: skip
        ask: Any = wait_until(
            lambda: panel.findChild(ExtensionPrompt), "The extension request in the window"
        )
        wait_until(lambda: ask.allow_button.isEnabled(), "The extension's Allow arming")
        camera.shoot("extension-asked")
        ask.allow_button.click()
        finished(extending, "The engineer's extension request")
        wait_until(
            lambda: any(e.get("event") == "session_extended" for e in events),
            "The extension reaching the session",
        )
        settle(10)
        print(f"walkthrough: time left {before!r} -> {panel.time_left.text()!r}")
        camera.shoot("extension-approved")

        # 9. End now: the engineer's connection closes
        panel.end_button.click()
        wait_until(lambda: not panel.live, "End now")
        wait_until(lambda: shell is not None and shell.poll() is not None, "The engineer's ssh end")
        camera.shoot("ended")
        window.close()

        # 10. the recording replays in the audit viewer
        menu_item(app, "Audit")
        audit: Any = wait_until(lambda: app.windows.window("audit"), "The audit viewer")
        place(audit, width=1200)
        wait_until(lambda: audit.recordings.count() > 0, "The recordings list")
        rows = [
            r
            for r in range(audit.recordings.count())
            if sid in str(audit.recordings.item(r).data(256))  # Qt.UserRole
        ]
        if not rows:
            raise WalkError(f"No recording of session {sid} in the audit viewer.")
        audit.tabs.setCurrentIndex(1)
        audit.recordings.setCurrentRow(rows[0])
        player = audit.player
        wait_until(lambda: player.cast is not None, "Reading the recording")
        player.speed.setCurrentIndex(player.speed.findData(8.0))
        player.play()
        wait_until(lambda: not player.playing, "The replay", timeout_s=180)
        if SEEN not in player.view.text():
            raise WalkError("The replay does not end on the screen the engineer saw.")
        camera.shoot("recording-replay")
        audit.tabs.setCurrentIndex(0)
        wait_until(lambda: audit.model.rowCount() > 0, "The audit trail's rows")
        camera.shoot("audit-trail")
    finally:
        if shell is not None and shell.poll() is None:
            shell.kill()
        quitted: list[bool] = []
        app.quitted.connect(lambda: quitted.append(True))
        app.quit_now()
        try:
            wait_until(lambda: quitted, "Quitting the tray", timeout_s=30)
        except WalkError as exc:
            print(f"walkthrough: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "walkthrough"))
    parser.add_argument("--keep", action="store_true", help="keep the demo folder afterwards")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="vx-walk-"))
    try:
        walk(Path(args.out).resolve(), folder)
    except WalkError as exc:
        print(f"walkthrough: {exc} The demo's logs are under {folder}.", file=sys.stderr)
        return 1
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    print("walkthrough: every step happened")
    return 0


if __name__ == "__main__":
    sys.exit(main())
