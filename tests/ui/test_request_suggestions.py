"""While the customer types the brief, Request Support suggests knowledge-base articles
after a pause in typing: the real window, the agent runtime and a real desk."""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

import pytest

pytest.importorskip("PySide6.QtWidgets")

from tests.fixtures import desk as desk_fixtures
from tests.fixtures.desk import RunningDesk
from tests.ui import case_helpers
from tests.ui.case_helpers import enroll_host, not_enrolled_host
from vxassist.cases.draft import DraftStore
from vxassist.ui.request import SUGGEST_MAX, RequestSupportWindow

WAIT = 20000

shared_desk = desk_fixtures.shared_desk
bridge_for = case_helpers.bridge_for


def open_window(qtbot: Any, bridge_for: Any, host: Any) -> RequestSupportWindow:
    window = RequestSupportWindow(
        bridge_for(host),
        host.ctx.settings.support,
        DraftStore.for_data_dir(host.paths.data_dir),
        paths=host.paths,
    )
    qtbot.addWidget(window)
    window.show()
    return window


def count_suggestion_calls(
    window: RequestSupportWindow, answers: list[Any] | None = None
) -> list[str]:
    """The texts the window asked the runtime for suggestions about; the runtime's
    answers to them go to ``answers``."""
    asked: list[str] = []
    submit = window._submit

    def spying(job: Any, on_done: Any = None, on_error: Any = None) -> bool:
        class Spy:
            def __getattr__(self, name: str) -> Any:
                raise AttributeError(name)

            def kb_suggest(self, text: str) -> None:
                asked.append(text)

        before = len(asked)
        with contextlib.suppress(AttributeError):
            job(Spy())
        if len(asked) > before and answers is not None and on_done is not None:
            done = on_done

            def on_done(found: Any) -> None:
                answers.append(found)
                done(found)

        return submit(job, on_done, on_error)

    window._submit = spying  # type: ignore[method-assign]
    return asked


def test_articles_are_suggested_under_the_brief_after_a_pause(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    articles = [
        shared_desk.add_kb_article(
            f"Wallboard {word} shows zero agents {n}",
            f"Re-link the {word} wallboard to the ACD group after an upgrade.",
        )
        for n in range(SUGGEST_MAX + 2)
    ]
    window = open_window(qtbot, bridge_for, enroll_host(shared_desk))
    asked = count_suggestion_calls(window)
    assert window.kb_suggestions.isHidden()
    brief = window.editors["brief"]
    brief.setFocus()
    qtbot.keyClicks(brief, f"{word} wallboard")
    qtbot.waitUntil(lambda: window.kb_suggestions.isVisible(), timeout=WAIT)
    # one question for the whole burst of typing, about the text as it stood
    assert asked == [f"{word} wallboard"]
    text = window.kb_suggestions.text()
    links = re.findall(r'href="([^"]+)"', text)
    assert len(links) == SUGGEST_MAX
    ids = {a["id"] for a in articles}
    for link in links:
        assert link.startswith(f"{shared_desk.url}/kb/"), link
        assert int(link.rsplit("/", 1)[1]) in ids
    assert "ACD group" in text
    # the brief cleared: the suggestions go
    brief.selectAll()
    qtbot.keyClick(brief, "a")
    qtbot.waitUntil(lambda: window.kb_suggestions.isHidden(), timeout=WAIT)
    assert asked[-1] == "a" or asked == [f"{word} wallboard"]


def test_titles_from_the_desk_are_text_not_markup(
    qtbot: Any, bridge_for: Any, shared_desk: RunningDesk
) -> None:
    word = f"zq{uuid.uuid4().hex[:8]}"
    shared_desk.add_kb_article(
        f"<b>Bold</b> <a href='javascript:alert(1)'>{word}</a>", f"About {word} and more."
    )
    window = open_window(qtbot, bridge_for, enroll_host(shared_desk))
    brief = window.editors["brief"]
    brief.setFocus()
    qtbot.keyClicks(brief, word)
    qtbot.waitUntil(lambda: window.kb_suggestions.isVisible(), timeout=WAIT)
    text = window.kb_suggestions.text()
    assert "&lt;b&gt;Bold&lt;/b&gt;" in text
    assert "javascript:" not in re.findall(r'href="([^"]+)"', text)[0]


def test_no_desk_to_ask_means_no_suggestions_and_no_error(qtbot: Any, bridge_for: Any) -> None:
    window = open_window(qtbot, bridge_for, not_enrolled_host())
    answers: list[Any] = []
    asked = count_suggestion_calls(window, answers)
    brief = window.editors["brief"]
    brief.setFocus()
    qtbot.keyClicks(brief, "calls not recorded")
    # the runtime answers None (not enrolled): nothing shows, the form is not disturbed
    qtbot.waitUntil(lambda: answers == [None], timeout=WAIT)
    assert asked == ["calls not recorded"]
    assert window.kb_suggestions.isHidden()
    assert window.form_status.text() == ""
