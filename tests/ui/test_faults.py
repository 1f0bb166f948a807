"""Bad input and faults in the tray, on real parts: a sentence in the window, nothing
lost, the agent keeps running.

The desk down (a real desk, stopped), a malformed desk answer (a loopback HTTP
server of this test's own that answers garbage), a full disk (a small tmpfs,
filled), the relay down and a request for a case this host did not open (the
demo's stack: a real desk, relay and engineer), and an error raised in a
window's slot while a session is live.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.fixtures import desk as desk_fixtures
from tests.fixtures.desk import RunningDesk
from tests.ui.case_helpers import TYPED, Host, enroll_host, make_runtime_factory
from tests.ui.test_request import fill
from vxassist.cases.outbox import State
from vxassist.cliutil import Context
from vxassist.demo import DEMO_ENGINEER
from vxassist.remote.consent import DenyPrompter
from vxassist.ui.app import TrayApp
from vxassist.ui.qt import Qt, QtWidgets
from vxassist.ui.request import RESULT_PAGE, REVIEW_PAGE

WAIT = 20000

desk = desk_fixtures.desk


@contextlib.contextmanager
def started(host: Host, prompter: Any = None, runtime: Any = None) -> Iterator[TrayApp]:
    """A TrayApp (no tray: the home window is its face) over the host's real runtime."""
    app = TrayApp(
        host.ctx,
        runtime or make_runtime_factory(host),
        prompter or DenyPrompter(),
        use_tray=False,
    )
    app.start()
    try:
        yield app
    finally:
        app.windows.close_all()
        for box in list(app._messages):
            box.close()
        if app.home is not None:
            app.home.hide()
        app.bridge.stop(30.0)


def outbox_items(host: Host) -> list[Any]:
    from vxassist.cases.intake import open_store

    return list(open_store(host.paths).items(tuple(State)))


def outbox_bodies(host: Host) -> list[dict[str, Any]]:
    return [item.body for item in outbox_items(host)]


def send_filled_request(qtbot: Any, app: TrayApp) -> Any:
    window: Any = app.open_window("request")
    assert window is not None
    qtbot.waitUntil(lambda: window.report is not None, timeout=WAIT)
    fill(qtbot, window, TYPED)
    assert window.show_review()
    window.send_button.click()
    return window


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and "Error(" not in text, text


# --- the desk down --------------------------------------------------------------------


def test_desk_down_request_is_queued_and_my_cases_says_so(qtbot: Any, desk: RunningDesk) -> None:
    host = enroll_host(desk)
    desk.stop()
    with started(host) as app:
        window = send_filled_request(qtbot, app)
        qtbot.waitUntil(lambda: window.pages.currentIndex() == RESULT_PAGE, timeout=WAIT)
        assert window.result_title.text() == "Queued: it goes when the connection is back"
        [body] = outbox_bodies(host)
        assert body["brief"] == TYPED["brief"]  # nothing lost

        cases: Any = app.open_window("cases")
        qtbot.waitUntil(lambda: cases.refresh_button.isEnabled(), timeout=WAIT)
        status = cases.list_status.text()
        assert "desk" in status.lower() or "support" in status.lower(), status
        assert "Requests waiting on this computer are listed." in status
        no_traceback(status)
        assert app.bridge.running


# --- a malformed desk answer ------------------------------------------------------------


class GarbageDesk:
    """A loopback HTTP server that answers every request with what the test set."""

    def __init__(self) -> None:
        self.status = 200
        self.content_type = "text/html"
        self.body = b"<html><body>Welcome to the captive portal</body></html>"
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(owner.status)
                self.send_header("Content-Type", owner.content_type)
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            do_GET = do_POST = do_PUT = do_PATCH = _answer

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def answer_json(self, value: Any) -> None:
        self.content_type = "application/json"
        self.body = json.dumps(value).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def garbage_desk() -> Iterator[GarbageDesk]:
    server = GarbageDesk()
    yield server
    server.close()


def test_a_malformed_desk_answer_is_a_sentence_nothing_lost_the_agent_runs(
    qtbot: Any, desk: RunningDesk, garbage_desk: GarbageDesk
) -> None:
    from vxassist.settings import update_user_settings

    enrolled = enroll_host(desk)
    # the desk's address now answers with something that is not the desk
    update_user_settings(enrolled.paths, {"desk_url": garbage_desk.url})
    host = Host(Context(paths=enrolled.paths), desk, enrolled.contract_id)
    assert host.ctx.settings.desk_url == garbage_desk.url
    with started(host) as app:
        cases: Any = app.open_window("cases")
        qtbot.waitUntil(lambda: cases.refresh_button.isEnabled(), timeout=WAIT)
        assert "is not the desk's" in cases.list_status.text()
        no_traceback(cases.list_status.text())

        # JSON, but the wrong shape: no case list, then cases of the wrong types
        for answer in (
            {"cases": "none"},
            [1, 2, 3],
            {
                "cases": [
                    "junk",
                    {"case_number": "x", "status": 7, "brief": None, "response_due": "soon"},
                    {"case_number": 12, "status": ["open"], "priority": "high", "history": 3,
                     "response_due": 5, "updated_at": {"a": 1}, "brief": {"b": 2}},
                ]
            },
        ):  # fmt: skip
            garbage_desk.answer_json(answer)
            cases.list_status.setText("")
            cases.refresh()
            qtbot.waitUntil(lambda: cases.refresh_button.isEnabled(), timeout=WAIT)
            status = cases.list_status.text()
            assert status and "Asking support" not in status, (answer, status)
            no_traceback(status)

        # a case's page: an answer that is not the case, then a case of the wrong shape
        for answer, said in (
            ({"cases": [{"case_number": 12, "status": "open"}]}, "not the case asked for"),
            (
                {"cases": [{"case_number": 12}], "case_number": 12, "related": 7, "events": 1},
                "cannot show",
            ),
        ):
            garbage_desk.answer_json(answer)
            cases.case_facts.setText("")
            cases.open_case(12)
            qtbot.waitUntil(lambda s=said: s in cases.case_facts.text(), timeout=WAIT)
            no_traceback(cases.case_facts.text())

        # a request sent meanwhile is kept on this computer, not lost: to an answer that
        # is not JSON, and to JSON that names no case (it is not taken as received)
        for garbage in (b"\x00\xffgarbage", b'{"status": "ok", "welcome": true}'):
            garbage_desk.content_type, garbage_desk.body = "application/json", garbage
            window = send_filled_request(qtbot, app)
            qtbot.waitUntil(lambda w=window: w.pages.currentIndex() == RESULT_PAGE, timeout=WAIT)
            assert window.result_title.text() == "Queued: it goes when the connection is back"
            window.close()
        assert [i.state for i in outbox_items(host)] == [State.PENDING, State.PENDING]
        assert [i.body["brief"] for i in outbox_items(host)] == [TYPED["brief"]] * 2
        assert app.bridge.running


# --- a full disk ----------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, filled to the last byte (skips where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("a small tmpfs needs root and mount(8)")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"tmpfs cannot be mounted here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill_up(folder: Path) -> None:
    with (folder / "filler").open("wb", buffering=0) as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * 4096)


def test_a_full_disk_says_free_disk_space_and_keeps_the_form(
    qtbot: Any, desk: RunningDesk, full_disk: Path
) -> None:
    from vxassist.cases.draft import DraftStore

    host = enroll_host(desk)
    desk.stop()  # the request must go to the outbox first
    # the draft's and the outbox's folders live on the small disk
    drafts = DraftStore.for_data_dir(host.paths.data_dir).folder
    for folder in (drafts, host.paths.outbox_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        target = full_disk / folder.name
        target.mkdir()
        folder.symlink_to(target, target_is_directory=True)
    fill_up(full_disk)
    with started(host) as app:
        window: Any = app.open_window("request")
        qtbot.waitUntil(lambda: window.report is not None, timeout=WAIT)
        fill(qtbot, window, TYPED)
        window.save_draft()
        qtbot.waitUntil(lambda: "free some disk space" in window.form_status.text(), timeout=WAIT)
        assert window.show_review()
        window.send_button.click()
        qtbot.waitUntil(lambda: window.send_button.isEnabled(), timeout=WAIT)
        assert window.pages.currentIndex() == REVIEW_PAGE
        assert "free" in window.review_status.text() and "disk" in window.review_status.text()
        no_traceback(window.review_status.text())
        window.show_form()
        for name in ("brief", "contact_email", "location"):  # the typed form stays
            assert window.value(name) == TYPED[name]
        assert window.editors["details"].toPlainText() == TYPED["details"]
        assert app.bridge.running

        # space again: the same form goes
        (full_disk / "filler").unlink()
        assert window.show_review()
        window.send_button.click()
        qtbot.waitUntil(
            lambda: window.pages.currentIndex() == RESULT_PAGE or window.send_button.isEnabled(),
            timeout=WAIT,
        )
        assert window.pages.currentIndex() == RESULT_PAGE, window.review_status.text()
        [body] = outbox_bodies(host)
        assert body["brief"] == TYPED["brief"]


# --- the demo's stack: the relay down, a foreign case, a window's fault while live -------

needs_ssh = pytest.mark.skipif(not shutil.which("ssh"), reason="the engineer's side needs ssh")


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from vxassist.demo import DemoStack

    running = DemoStack(tmp_path / "demo", relay="auto", consent_timeout_s=90, say=lambda _t: None)
    try:
        running.start()
    except Exception as exc:  # a machine where the demo cannot run at all
        running.stop()
        pytest.skip(f"the demo stack cannot start here: {exc}")
    for name, value in running.host_env().items():
        if name.startswith("VXASSIST_"):
            monkeypatch.setenv(name, value)
    try:
        yield running
    finally:
        running.stop()


def demo_app(prompter: Any) -> TrayApp:
    from tests.ui.shell import runtime_factory

    ctx = Context.create()
    return TrayApp(ctx, runtime_factory(ctx), prompter, use_tray=False)


def engineer_request(stack: Any, case_number: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vxassist", "engineer", "request", str(case_number),
         "--scope", "shell", "--minutes", "5", "--reason", "look at the import", "--json"],
        env=stack.engineer_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=WAIT * 3 / 1000)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def quit_app(qtbot: Any, app: TrayApp) -> None:
    quitted: list[bool] = []
    app.quitted.connect(lambda: quitted.append(True))
    app.quit_now()
    qtbot.waitUntil(lambda: bool(quitted), timeout=WAIT * 3)


def allow_first_prompt(qtbot: Any, prompter: Any) -> None:
    qtbot.waitUntil(lambda: bool(prompter.open_prompts()), timeout=WAIT * 3)
    dialog: Any = prompter.open_prompts()[0]
    qtbot.waitUntil(lambda: dialog.allow_button.isEnabled(), timeout=WAIT)
    qtbot.mouseClick(dialog.allow_button, Qt.MouseButton.LeftButton)


def stop_relay(stack: Any) -> None:
    """Stop the demo's relay only (the desk stays up)."""
    from vxassist.demo import stop_group

    if stack._openssh is not None:
        stack._openssh.stop()
        stack._openssh = None
        return
    for proc in list(stack._procs):
        if "vxassist.devrelay" in " ".join(map(str, proc.args)):
            stop_group(proc, grace_s=5)
            stack._procs.remove(proc)
            return
    raise AssertionError("the demo's relay was not found")


@pytest.mark.slow
@pytest.mark.timeout(300)
@needs_ssh
def test_relay_down_the_session_could_not_start_and_the_agent_still_prompts(
    qapp: Any, qtbot: Any, stack: Any
) -> None:
    from vxassist.ui.consent import QtPrompter

    prompter = QtPrompter(allow_delay_ms=300)
    app = demo_app(prompter)
    app.start()
    try:
        qtbot.waitUntil(lambda: app.state.enrolled, timeout=WAIT * 3)
        stop_relay(stack)
        engineer = engineer_request(stack, stack.case_number)
        allow_first_prompt(qtbot, prompter)
        finish(engineer)
        home = app.home
        assert home is not None
        qtbot.waitUntil(lambda: "could not start" in home._summary.text(), timeout=WAIT * 3)
        text = home._summary.text()
        assert text.startswith(f"The session with {DEMO_ENGINEER} could not start: the relay"), text
        assert not app.state.live
        no_traceback(text)
        assert app.bridge.running

        # the agent keeps running: a later request still prompts
        again = engineer_request(stack, stack.case_number)
        qtbot.waitUntil(lambda: bool(prompter.open_prompts()), timeout=WAIT * 3)
        dialog: Any = prompter.open_prompts()[0]
        dialog.deny_button.click()
        finish(again)
    finally:
        quit_app(qtbot, app)


@pytest.mark.slow
@pytest.mark.timeout(300)
@needs_ssh
def test_a_request_for_a_case_not_opened_here_is_refused_in_a_calm_line(
    qapp: Any, qtbot: Any, stack: Any
) -> None:
    from vxassist.ui.consent import QtPrompter

    prompter = QtPrompter(allow_delay_ms=300)
    asked: list[Any] = []
    original_ask = prompter.ask

    async def counting_ask(*args: Any, **kwargs: Any) -> Any:
        asked.append(args)
        return await original_ask(*args, **kwargs)

    prompter.ask = counting_ask  # type: ignore[method-assign]
    app = demo_app(prompter)
    app.start()
    try:
        qtbot.waitUntil(lambda: app.state.enrolled, timeout=WAIT * 3)
        # the broker is up (read from here only to wait for it)
        qtbot.waitUntil(
            lambda: getattr(app.bridge.runtime, "_remote", None) is not None, timeout=WAIT * 3
        )
        foreign = 900_000 + stack.case_number
        raw = {
            "session_id": f"s-{uuid.uuid4().hex[:12]}",
            "engineer": "mallory",
            "case_number": foreign,
            "scopes": ["shell"],
            "minutes": 10,
            "reason": "not your case",
            "public_key": "",
        }

        async def arrives(rt: Any) -> None:
            # as if the desk sent it: straight to the broker that screens every request
            await rt._remote.broker.handle_request(raw)

        done: list[bool] = []
        app.bridge.submit(arrives, on_done=lambda _r: done.append(True))
        qtbot.waitUntil(lambda: bool(done), timeout=WAIT * 3)
        home = app.home
        assert home is not None
        qtbot.waitUntil(lambda: "refused on its own" in home._summary.text(), timeout=WAIT)
        assert "mallory" in home._summary.text()
        no_traceback(home._summary.text())
        assert not prompter.open_prompts() and not asked  # never a prompt
        assert not app.state.requests
        assert app.bridge.running
    finally:
        quit_app(qtbot, app)


@pytest.mark.slow
@pytest.mark.timeout(300)
@needs_ssh
@pytest.mark.parametrize("ended_by", ["end_now", "deadline"])
def test_a_window_raising_in_a_slot_does_not_stop_the_teardown(
    qapp: Any,
    qtbot: Any,
    stack: Any,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    ended_by: str,
) -> None:
    from vxassist.runtime import TEST_GRANT_SECONDS_ENV
    from vxassist.ui.consent import QtPrompter
    from vxassist.ui.session_window import SessionPanel

    if ended_by == "deadline":
        monkeypatch.setenv(TEST_GRANT_SECONDS_ENV, "25")  # the grant ends on its own
    prompter = QtPrompter(allow_delay_ms=300)
    app = demo_app(prompter)
    seen: list[tuple[str, str]] = []
    app.bridge.event_received.connect(
        lambda e: seen.append((str(e.get("event")), str(e.get("session_id"))))
    )
    restore = app.install_exception_hook()
    app.start()
    shell: subprocess.Popen[bytes] | None = None
    try:
        qtbot.waitUntil(lambda: app.state.enrolled, timeout=WAIT * 3)
        engineer = engineer_request(stack, stack.case_number)
        allow_first_prompt(qtbot, prompter)
        out, err = finish(engineer)
        assert engineer.returncode == 0, err
        session = json.loads(out)
        sid = session["session_id"]
        qtbot.waitUntil(lambda: sid in app.state.live, timeout=WAIT * 3)
        shell = subprocess.Popen(
            ["ssh", "-F", session["ssh_config"], "-tt", f"vx-session-{sid}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        qtbot.waitUntil(lambda: ("login", sid) in seen, timeout=WAIT * 3)

        # the live-session window's countdown slot now raises, every second
        def broken_tick(self: Any) -> None:
            raise RuntimeError("a window's slot failed")

        with (
            caplog.at_level(logging.ERROR, logger="vxassist.ui.app"),
            pytest.MonkeyPatch.context() as broken,
        ):
            broken.setattr(SessionPanel, "tick", broken_tick)
            qtbot.waitUntil(lambda: _fault_box(app) is not None, timeout=WAIT)
            assert shell.poll() is None  # the session is still on
            if ended_by == "end_now":
                home = app.home
                assert home is not None
                end = home.findChild(QtWidgets.QPushButton, "end-now")
                assert end is not None
                qtbot.mouseClick(end, Qt.MouseButton.LeftButton)
            # End now, or the deadline, closed the engineer's ssh
            qtbot.waitUntil(lambda: shell.poll() is not None, timeout=WAIT * 3)
            qtbot.waitUntil(lambda: sid not in app.state.live, timeout=WAIT)
        assert ("teardown", sid) in seen or ("session_end", sid) in seen
        box = _fault_box(app)
        assert box is not None and "close and open it again" in box.text()
        assert len([b for b in app._messages if b.objectName() == "window-fault"]) == 1
        failed = [r for r in caplog.records if r.getMessage() == "a window failed"]
        assert failed and failed[0].exc_info is not None  # the traceback is in the log
        assert app.bridge.running  # the app and its agent go on
    finally:
        restore()
        if shell is not None and shell.poll() is None:
            shell.kill()
        quit_app(qtbot, app)


def _fault_box(app: TrayApp) -> QtWidgets.QMessageBox | None:
    for box in app._messages:
        if box.objectName() == "window-fault":
            return box
    return None


# --- the pieces, alone --------------------------------------------------------------------


def test_the_calm_lines_of_the_tray_state() -> None:
    from datetime import UTC, datetime

    from vxassist.ui.tray import Glance, ShellState

    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    state = ShellState(enrolled=True)
    state.apply({"event": "request", "session_id": "s-1", "engineer": "mallory"})
    assert state.glance() is Glance.REQUEST
    state.apply({"event": "refused", "session_id": "s-1", "reason": "Case 7 was not opened here."})
    assert state.glance() is Glance.IDLE
    assert (
        state.summary(now)
        == "mallory's request to connect was refused on its own: case 7 was not opened here."
    )

    # a request that is answered and then cannot start: its end events come first
    state.apply({"event": "request", "session_id": "s-2", "engineer": "alice"})
    assert state.summary(now) == "alice asks to connect: answer the prompt"
    for kind in ("decision", "session_start", "teardown"):
        state.apply({"event": kind, "session_id": "s-2"})
    state.apply(
        {"event": "session_failed", "session_id": "s-2", "reason": "The relay could not be reached"}
    )
    assert (
        state.summary(now)
        == "The session with alice could not start: the relay could not be reached."
    )
    state.apply({"event": "request", "session_id": "s-3", "engineer": "bob"})
    state.apply({"event": "decision", "session_id": "s-3"})
    assert state.summary(now) == "Nothing needs you"  # a new request made the old line stale


def test_a_window_raising_in_paint_is_logged_and_said_once(
    qtbot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.ui.shell import tray_app
    from vxassist.ui.home_window import HomeWindow

    def broken_paint(self: Any, _event: Any) -> None:
        raise ValueError("paint failed")

    with tray_app() as app, caplog.at_level(logging.ERROR, logger="vxassist.ui.app"):
        restore = app.install_exception_hook()
        try:
            home = app.home
            assert home is not None
            with pytest.MonkeyPatch.context() as broken:
                broken.setattr(HomeWindow, "paintEvent", broken_paint)
                home.update()  # painted from Qt's loop, as on screen
                qtbot.waitUntil(lambda: _fault_box(app) is not None, timeout=WAIT)
            assert len([b for b in app._messages if b.objectName() == "window-fault"]) == 1
            assert any(
                r.getMessage() == "a window failed" and r.exc_info is not None
                for r in caplog.records
            )
            # the app goes on: the agent answers, a window opens
            asked: list[object] = []
            app.bridge.submit(lambda rt: rt.list_cases(), on_error=asked.append)
            qtbot.waitUntil(lambda: bool(asked), timeout=WAIT)
            assert app.open_window("settings") is not None
        finally:
            restore()
