"""``case new`` as a new user meets it: where the request went (exit status), what is
sent (shown for a yes on a terminal), which fields are required."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time

from tests.cases.conftest import CASE_FLAGS, AgentProcess
from vxassist.cases.cli import EXIT_NOT_SENT, EXIT_SAVED, preview_text
from vxassist.cases.fields import CASE_FIELDS
from vxassist.cases.intake import open_store
from vxassist.paths import Paths


def _max_paren_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth = max(0, depth - 1)
    return deepest


def _outbox(agent: AgentProcess) -> list[object]:
    return list(open_store(Paths.from_env(agent.env())).items())


def test_not_enrolled_and_no_mail_it_is_saved_and_the_exit_status_says_so(
    agent_process: AgentProcess,
) -> None:
    done = agent_process.run("case", "new", *CASE_FLAGS)  # no terminal: nothing is asked
    assert done.returncode == EXIT_SAVED == 5, done.stdout + done.stderr
    assert "It is saved as" in done.stdout
    assert "Send it?" not in done.stderr
    for line in done.stdout.splitlines():
        assert _max_paren_depth(line) <= 1, line


def test_help_marks_the_required_fields_and_documents_the_exit_status(
    agent_process: AgentProcess,
) -> None:
    done = agent_process.run("case", "new", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split("options:", 1)[1].split())
    for spec in CASE_FIELDS:
        flag = "--" + spec.name.replace("_", "-")
        after = text.split(flag + " ", 1)[1]
        marked = after.split(" ", 2)[1].startswith("[required]")
        assert marked is spec.required, (flag, after[:60])
    for code in ("0 filed", "3 queued", "4 e-mailed", "5 saved", "6 not sent"):
        assert code in text


def _run_on_a_terminal(agent: AgentProcess, *args: str, answer: bytes | None) -> tuple[int, bytes]:
    master, slave = pty.openpty()
    process = subprocess.Popen(
        agent.command(*args),
        env=agent.env(),
        stdin=slave,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while process.poll() is None or select.select([master], [], [], 0)[0]:
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
                if answer is not None and b"Send it? [y/N]" in seen:
                    os.write(master, answer)
                    answer = None
        process.wait(timeout=60)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return process.returncode, seen


def test_on_a_terminal_what_will_be_sent_is_shown_and_no_sends_nothing(
    agent_process: AgentProcess,
) -> None:
    code, seen = _run_on_a_terminal(agent_process, "case", "new", *CASE_FLAGS, answer=b"n\n")
    assert code == EXIT_NOT_SENT, seen
    assert b"This request will be sent to support:" in seen
    assert b"Brief description" in seen and b"Calls from the front desk" in seen
    assert b"Request size:" in seen
    assert b"Nothing was sent" in seen
    assert _outbox(agent_process) == []


def test_on_a_terminal_yes_sends_and_the_flag_skips_the_question(
    agent_process: AgentProcess,
) -> None:
    code, seen = _run_on_a_terminal(agent_process, "case", "new", *CASE_FLAGS, answer=b"y\n")
    assert code == EXIT_SAVED, seen
    assert len(_outbox(agent_process)) == 1
    code, seen = _run_on_a_terminal(agent_process, "case", "new", *CASE_FLAGS, "--yes", answer=None)
    assert code == EXIT_SAVED, seen
    assert b"Send it?" not in seen
    assert len(_outbox(agent_process)) == 2


def test_the_preview_names_the_reports_parts_with_their_sizes() -> None:
    payload = {
        "company": "Acme Hotels",
        "brief": "No calls recorded",
        "priority": 2,
        "third_party_app": None,
        "system_report": {
            "schema": 1,
            "sections": {
                "os": {"status": "ok", "data": {"name": "Debian 12"}},
                "logs": {"status": "partial", "data": {"tail": "x" * 3000}},
            },
            "manifest": [{"section": "os", "item": "os", "action": "collected"}],
        },
        "also": [{"brief": "The printer too"}],
    }
    text = preview_text(payload)
    assert "Company name" in text and "Acme Hotels" in text
    assert "2 = Severe" in text
    assert "Affected third-party application" not in text  # empty fields are left out
    assert "Further issue 1 (its own case): The printer too" in text
    [os_line] = [line for line in text.splitlines() if line.strip().startswith("os ")]
    [logs_line] = [line for line in text.splitlines() if line.strip().startswith("logs ")]
    [manifest_line] = [line for line in text.splitlines() if "manifest" in line]
    assert os_line.strip().endswith(" B") and "KB" in logs_line
    assert logs_line.strip().endswith("partial")  # a part that saw less says so
    assert manifest_line.strip().endswith(" B")
    assert "schema" not in text
    assert "System report, 3.1 KB in all" in text
