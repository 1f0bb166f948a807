"""The consent prompt on real widgets, asked from a real event loop on its own thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.e2e.test_broker import World as BrokerWorld
from tests.e2e.test_broker import request as desk_request
from tests.e2e.test_broker import run_broker, settled
from tests.e2e.test_broker import running_desk as running_desk
from tests.e2e.test_broker import world as world
from vxassist.remote.grants import ConsentDecision, Grant, Scope, SessionRequest, parse_scopes
from vxassist.ui.consent import ConsentDialog, ExtensionPrompt, QtPrompter, countdown_text
from vxassist.ui.qt import Qt

WAIT = 10000


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The agent's loop on its own thread, as the bridge runs it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def request(session_id: str = "s-100", minutes: int = 30) -> SessionRequest:
    return SessionRequest(
        session_id=session_id,
        engineer="alice",
        case_number=1001,
        case_brief="Call records stopped importing",
        scopes=parse_scopes(["shell", "files", "forward:127.0.0.1:3389"]),
        minutes=minutes,
        reason="look at the call record import",
        verification_code="482-193",
        key_fingerprint="SHA256:abc",
        received_at=datetime.now(UTC),
    )


def ask(
    loop: asyncio.AbstractEventLoop, prompter: QtPrompter, req: SessionRequest, timeout_s: float
) -> concurrent.futures.Future[ConsentDecision]:
    return asyncio.run_coroutine_threadsafe(prompter.ask(req, timeout_s), loop)


def dialog_for(qtbot: Any, prompter: QtPrompter, session_id: str) -> ConsentDialog:
    found: list[ConsentDialog] = []

    def shown() -> bool:
        found[:] = [
            d
            for d in prompter.open_prompts()
            if isinstance(d, ConsentDialog) and d.req.session_id == session_id
        ]
        return bool(found)

    qtbot.waitUntil(shown, timeout=WAIT)
    return found[0]


def answer(qtbot: Any, future: concurrent.futures.Future[Any]) -> Any:
    qtbot.waitUntil(future.done, timeout=WAIT)
    return future.result()


def armed(dialog: ConsentDialog | ExtensionPrompt) -> bool:
    return dialog.allow_button.isEnabled()


def test_allow_is_not_clickable_at_first_and_deny_is_the_default(
    qtbot: Any, loop: asyncio.AbstractEventLoop
) -> None:
    prompter = QtPrompter()  # the real delay
    future = ask(loop, prompter, request(), 60)
    dialog = dialog_for(qtbot, prompter, "s-100")
    assert dialog.isVisible()
    assert dialog.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    assert not dialog.isModal()
    assert not dialog.allow_button.isEnabled()
    assert dialog.deny_button.isDefault() and not dialog.allow_button.isDefault()
    qtbot.mouseClick(dialog.allow_button, Qt.MouseButton.LeftButton)  # the first moment
    assert not future.done()
    qtbot.waitUntil(lambda: armed(dialog), timeout=WAIT)
    qtbot.mouseClick(dialog.allow_button, Qt.MouseButton.LeftButton)
    decision = answer(qtbot, future)
    assert decision.approved
    assert decision.scopes == request().scopes and decision.minutes == 30


def test_a_keystroke_on_its_way_denies(qtbot: Any, loop: asyncio.AbstractEventLoop) -> None:
    prompter = QtPrompter()
    future = ask(loop, prompter, request(), 60)
    dialog = dialog_for(qtbot, prompter, "s-100")
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    decision = answer(qtbot, future)
    assert not decision.approved and decision.note == "denied in the tray prompt"


def test_deny(qtbot: Any, loop: asyncio.AbstractEventLoop) -> None:
    prompter = QtPrompter(allow_delay_ms=0)
    future = ask(loop, prompter, request(), 60)
    dialog = dialog_for(qtbot, prompter, "s-100")
    qtbot.mouseClick(dialog.deny_button, Qt.MouseButton.LeftButton)
    assert not answer(qtbot, future).approved
    qtbot.waitUntil(lambda: not prompter.open_prompts(), timeout=WAIT)


def test_no_answer_is_a_deny_with_a_visible_countdown(
    qtbot: Any, loop: asyncio.AbstractEventLoop
) -> None:
    prompter = QtPrompter(allow_delay_ms=0)
    future = ask(loop, prompter, request(), 1.5)
    dialog = dialog_for(qtbot, prompter, "s-100")
    assert "Denied automatically in 0:0" in dialog.countdown.text()
    decision = answer(qtbot, future)
    assert not decision.approved and "no answer" in decision.note
    qtbot.waitUntil(lambda: not prompter.open_prompts(), timeout=WAIT)


def test_narrowed_scopes_and_shortened_time(qtbot: Any, loop: asyncio.AbstractEventLoop) -> None:
    prompter = QtPrompter(allow_delay_ms=0)
    future = ask(loop, prompter, request(minutes=30), 60)
    dialog = dialog_for(qtbot, prompter, "s-100")
    qtbot.waitUntil(lambda: armed(dialog), timeout=WAIT)
    files, rdp = Scope("files"), Scope("forward", "127.0.0.1", 3389)
    dialog.scope_boxes[files].setChecked(False)
    dialog.scope_boxes[rdp].setChecked(False)
    dialog.minutes.setValue(10)
    dialog.minutes.setValue(99)  # never above what was asked
    assert dialog.minutes.value() == 30
    dialog.minutes.setValue(10)
    qtbot.mouseClick(dialog.allow_button, Qt.MouseButton.LeftButton)
    decision = answer(qtbot, future)
    assert decision.approved
    assert decision.scopes == (Scope("shell"),) and decision.minutes == 10


def test_nothing_ticked_cannot_be_allowed(qtbot: Any, loop: asyncio.AbstractEventLoop) -> None:
    prompter = QtPrompter(allow_delay_ms=0)
    future = ask(loop, prompter, request(), 60)
    dialog = dialog_for(qtbot, prompter, "s-100")
    qtbot.waitUntil(lambda: armed(dialog), timeout=WAIT)
    for box in dialog.scope_boxes.values():
        box.setChecked(False)
    assert not dialog.allow_button.isEnabled()
    qtbot.mouseClick(dialog.allow_button, Qt.MouseButton.LeftButton)
    assert not future.done()
    dialog.close()  # closing is a no
    assert not answer(qtbot, future).approved


def test_several_requests_are_several_decisions(
    qtbot: Any, loop: asyncio.AbstractEventLoop
) -> None:
    prompter = QtPrompter(allow_delay_ms=0)
    first = ask(loop, prompter, request("s-1"), 60)
    second = ask(loop, prompter, request("s-2"), 60)
    one, two = dialog_for(qtbot, prompter, "s-1"), dialog_for(qtbot, prompter, "s-2")
    assert one is not two
    qtbot.mouseClick(two.deny_button, Qt.MouseButton.LeftButton)
    assert not answer(qtbot, second).approved
    assert not first.done() and one.isVisible()
    qtbot.waitUntil(lambda: armed(one), timeout=WAIT)
    qtbot.mouseClick(one.allow_button, Qt.MouseButton.LeftButton)
    assert answer(qtbot, first).approved


def test_a_withdrawn_request_closes_its_dialog(qtbot: Any, loop: asyncio.AbstractEventLoop) -> None:
    prompter = QtPrompter(allow_delay_ms=0)
    future = ask(loop, prompter, request(), 60)
    dialog = dialog_for(qtbot, prompter, "s-100")
    closed: list[bool] = []
    dialog.destroyed.connect(lambda *_: closed.append(True))
    future.cancel()  # the broker cancels the ask when the desk withdraws the request
    qtbot.waitUntil(lambda: not prompter.open_prompts() and bool(closed), timeout=WAIT)


def test_nobody_to_ask_is_a_deny(loop: asyncio.AbstractEventLoop, qtbot: Any) -> None:
    prompter = QtPrompter()
    prompter.set_enabled(False)
    assert not prompter.can_prompt
    assert not answer(qtbot, ask(loop, prompter, request(), 60)).approved


def grant() -> Grant:
    now = datetime.now(UTC)
    return Grant(
        "s-100",
        "alice",
        1001,
        (Scope("shell"),),
        now,
        now + timedelta(minutes=10),
        "alice/case-1001/session-s-100",
    )


def test_extension_approved_with_fewer_minutes(qtbot: Any, loop: asyncio.AbstractEventLoop) -> None:
    prompter = QtPrompter(allow_delay_ms=0)
    hosted: list[ExtensionPrompt] = []
    prompter.extension_opened.connect(hosted.append)
    future = asyncio.run_coroutine_threadsafe(
        prompter.ask_extension(grant(), 15, "the import needs a rerun", 60), loop
    )
    qtbot.waitUntil(lambda: bool(hosted) and hosted[0].isVisible(), timeout=WAIT)
    prompt = hosted[0]
    assert prompt.window().windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    assert prompt.refuse_button.isDefault()
    qtbot.waitUntil(lambda: armed(prompt), timeout=WAIT)
    prompt.minutes.setValue(5)
    qtbot.mouseClick(prompt.allow_button, Qt.MouseButton.LeftButton)
    assert answer(qtbot, future) == 5


def test_extension_refused_and_timed_out(qtbot: Any, loop: asyncio.AbstractEventLoop) -> None:
    prompter = QtPrompter(allow_delay_ms=0)
    hosted: list[ExtensionPrompt] = []
    prompter.extension_opened.connect(hosted.append)
    refused = asyncio.run_coroutine_threadsafe(prompter.ask_extension(grant(), 15, "", 60), loop)
    qtbot.waitUntil(lambda: bool(hosted), timeout=WAIT)
    qtbot.mouseClick(hosted[0].refuse_button, Qt.MouseButton.LeftButton)
    assert answer(qtbot, refused) is None
    late = asyncio.run_coroutine_threadsafe(prompter.ask_extension(grant(), 15, "", 1.0), loop)
    assert answer(qtbot, late) is None


def test_countdown_text() -> None:
    assert countdown_text(65) == "1:05"
    assert countdown_text(0.2) == "0:01"
    assert countdown_text(-3) == "0:00"


# -- against a real desk: the engineer asks, the customer narrows, the desk signs what was allowed


def test_the_desk_signs_only_what_the_customer_allowed(
    qtbot: Any,
    loop: asyncio.AbstractEventLoop,
    world: BrokerWorld,
    tmp_path: Any,
) -> None:
    prompter = QtPrompter(allow_delay_ms=0)

    async def scenario() -> tuple[dict[str, Any], list[Grant]]:
        async with run_broker(world, tmp_path, prompter=prompter) as running:  # type: ignore[arg-type]
            sid = await asyncio.to_thread(
                desk_request, world, world.host.case_number, ["shell", "files"], 5
            )
            return await settled(world, sid), running.service.started

    future = asyncio.run_coroutine_threadsafe(scenario(), loop)
    dialogs: list[ConsentDialog] = []

    def shown() -> bool:
        dialogs[:] = [d for d in prompter.open_prompts() if isinstance(d, ConsentDialog)]
        return bool(dialogs)

    qtbot.waitUntil(shown, timeout=30000)
    dialog = dialogs[0]
    assert dialog.req.case_number == world.host.case_number
    assert dialog.req.verification_code  # the code the engineer also sees
    qtbot.waitUntil(lambda: armed(dialog), timeout=WAIT)
    dialog.scope_boxes[Scope("shell")].setChecked(False)
    dialog.minutes.setValue(2)
    qtbot.mouseClick(dialog.allow_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(future.done, timeout=60000)
    session, started = future.result()
    assert session["status"] == "approved"
    (grant,) = started
    assert grant.scopes == (Scope("files"),)
    assert grant.not_after - grant.not_before == timedelta(minutes=2)
    assert datetime.fromisoformat(session["not_after"]) == grant.not_after
    assert [str(s) for s in session["scopes"]] == ["files"]


def test_a_denial_reaches_the_desk(
    qtbot: Any,
    loop: asyncio.AbstractEventLoop,
    world: BrokerWorld,
    tmp_path: Any,
) -> None:
    prompter = QtPrompter()

    async def scenario() -> tuple[dict[str, Any], list[Grant]]:
        async with run_broker(world, tmp_path, prompter=prompter) as running:  # type: ignore[arg-type]
            sid = await asyncio.to_thread(desk_request, world, world.host.case_number, ["shell"])
            return await settled(world, sid), running.service.started

    future = asyncio.run_coroutine_threadsafe(scenario(), loop)
    qtbot.waitUntil(lambda: bool(prompter.open_prompts()), timeout=30000)
    (dialog,) = prompter.open_prompts()
    qtbot.keyClick(dialog, Qt.Key.Key_Return)  # Enter at once: the default is Deny
    qtbot.waitUntil(future.done, timeout=60000)
    session, started = future.result()
    assert session["status"] == "denied" and started == []
