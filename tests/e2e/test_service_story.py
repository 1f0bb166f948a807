"""The service platform's story, as a new user walks it on one machine (issue 11's
"done when"), on real parts only: a desk process (``vxassist desk serve`` on SQLite)
mailing a real SMTP server (aiosmtpd on 127.0.0.1), the host's own ``vxassist``
commands and agent runtime, and the web console over HTTP as a browser without
JavaScript uses it (a cookie, the CSRF token read from each form).

A case filed from the host tops the console's queue with its time left; an engineer
replies in the console and the host reads it with ``vxassist case show``; an
escalation in the console mails the manager; a second case whose deadline has
passed brings the breach notice; an article written in the console's editor is
found by the host's search; an upgrade asked by someone who is not the technical
contact is refused, and the host reads why.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cases.conftest import CASE_FLAGS
from tests.desk.smtp import Received, SmtpServer, smtp  # noqa: F401 (fixture)
from tests.fixtures.desk import RunningDesk
from vxassist.cli import main

PASSWORD = "service story password"
TEAM = "support-team@vendor.example"
MANAGER = "tech-manager@vendor.example"
CONTACT = "bob@acme.example.com"  # the contract's technical contact (RunningDesk)
WAIT_S = 30.0

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_PRE = re.compile(r'name="pre" value="([^"]+)"')


def _eventually(what: str, check: Callable[[], Any], timeout_s: float = WAIT_S) -> Any:
    """``check()``'s first truthy answer; fails naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.1)


def _mail(server: SmtpServer, to: str, *subject_has: str) -> Received:
    """The first mail to ``to`` whose subject holds every one of ``subject_has``."""

    def find() -> Received | None:
        for message in server.to(to):
            if all(part in message.subject for part in subject_has):
                return message
        return None

    found: Received = _eventually(f"a mail to {to} about {subject_has!r}", find)
    return found


def vx(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The host's ``vxassist`` command, run as the host user runs it."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def vx_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = vx(capsys, *args, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


class Console:
    """One engineer's browser on the console: a cookie jar, forms with their CSRF token."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=20, follow_redirects=True)

    def sign_in(self, name: str, password: str) -> httpx.Response:
        form = self.http.get("/console/signin")
        pre = _PRE.search(form.text)
        assert form.status_code == 200 and pre, form.text
        page = self.http.post(
            "/console/signin",
            data={"pre": pre.group(1), "next": "/console/", "name": name, "password": password},
        )
        assert page.status_code == 200 and str(page.url).endswith("/console/"), page.text
        return page

    def submit(self, page: str, action: str, data: dict[str, str]) -> httpx.Response:
        """Fill in a form of ``page`` and send it, the page's CSRF token with it."""
        shown = self.http.get(page)
        token = _CSRF.search(shown.text)
        assert shown.status_code == 200 and token, shown.text
        answer = self.http.post(action, data={"csrf": token.group(1), **data})
        assert answer.status_code == 200, answer.text
        return answer

    def close(self) -> None:
        self.http.close()


def queue_rows(page: str) -> list[str]:
    """The queue's rows as text, top first."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr.*?</tr>", body, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", " ", row)) for row in rows]


@pytest.fixture
def desk(tmp_path: Path, smtp: SmtpServer) -> Iterator[RunningDesk]:  # noqa: F811
    """A desk process mailing ``smtp``, a contract, an engineer and a manager with
    console passwords."""
    from vxassist.desk import admin

    config = tmp_path / "desk.toml"
    config.write_text(
        "[mail]\n"
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\n'
        f'from = "support@vendor.example"\nengineers = ["{TEAM}"]\n'
        "timeout_s = 5\nretry_base_s = 1\npoll_s = 1\n"
        f'[escalation]\nmanager_email = "{MANAGER}"\n'
        "[deadlines]\ncheck_every_s = 1\n"
    )
    running = RunningDesk(tmp_path / "desk", config_file=config)
    running.add_contract()
    db = running._db()
    try:
        now = datetime.now(UTC)
        admin.add_engineer(db, "jdoe", now, password=PASSWORD)
        admin.add_engineer(db, "mmanager", now, password=PASSWORD, manager=True)
    finally:
        db.dispose()
    with running:
        yield running


def _push_deadline_into_the_past(desk: RunningDesk, number: int) -> None:
    """The case's response deadline passed five minutes ago (time moved on, in short)."""
    from sqlalchemy import update

    from vxassist.desk.models import Case

    db = desk._db()
    try:
        with db.writing() as session:
            session.execute(
                update(Case)
                .where(Case.case_number == number)
                .values(response_due=datetime.now(UTC) - timedelta(minutes=5))
            )
    finally:
        db.dispose()


def _host_search(query: str) -> list[dict[str, Any]]:
    """The host's knowledge-base search, through the agent runtime the tray uses."""
    from vxassist.cliutil import Context
    from vxassist.remote.consent import DenyPrompter
    from vxassist.runtime import AgentRuntime

    runtime = AgentRuntime(Context.create(), DenyPrompter(), lambda _event: None)
    found = asyncio.run(runtime.kb_search(query))
    assert found is not None, "the host's search found no knowledge base at the desk"
    return found


def test_the_service_story_on_one_machine(
    desk: RunningDesk,
    smtp: SmtpServer,  # noqa: F811
    vx_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the host enrolls and files a case, with its own command
    vx_json(capsys, "enroll", "--desk", desk.url, "--code", desk.enrollment_code())
    first = int(vx_json(capsys, "case", "new", *CASE_FLAGS)["case_number"])
    brief = CASE_FLAGS[CASE_FLAGS.index("--brief") + 1]

    # an engineer signs in: the case is at the top of the queue, with its time left
    console = Console(desk.url)
    try:
        queue = console.sign_in("jdoe", PASSWORD)
        top = queue_rows(queue.text)[0]
        assert str(first) in top and brief in top
        assert "left" in top, top  # its time left, e.g. "3 h 58 min left"

        # a reply in the console reaches the host: `vxassist case show N`
        reply = "Please restart the SMDR collector and tell us what its log says."
        page = f"/console/cases/{first}"
        answer = console.submit(page, f"{page}/reply", {"text": reply})
        assert "Reply sent" in answer.text
        code, shown, err = vx(capsys, "case", "show", str(first))
        assert code == 0, err
        assert reply in shown
        # the reply also went to the technical contact by mail
        _mail(smtp, CONTACT, f"[Case {first}]")

        # an escalation to the Manager of Technical Support briefs them by mail
        reason = "Customer is losing billing data since Monday."
        answer = console.submit(page, f"{page}/escalate", {"level": "manager", "reason": reason})
        assert "Escalated" in answer.text
        briefing = _mail(smtp, MANAGER, f"[Case {first}]")
        assert reason in briefing.body

        # another case nobody answers in time: its deadline passes, the engineers hear
        second = int(
            vx_json(
                capsys,
                "case",
                "new",
                *CASE_FLAGS[: CASE_FLAGS.index("--brief")],
                "--brief",
                "Reports show yesterday's totals twice",
                *CASE_FLAGS[CASE_FLAGS.index("--brief") + 2 :],
            )["case_number"]
        )
        _push_deadline_into_the_past(desk, second)
        _mail(smtp, TEAM, f"[Case {second}]", "BREACHED")
        breached = console.http.get("/console/", params={"breached": "1"})
        assert [str(second) in row for row in queue_rows(breached.text)] == [True]

        # an article written in the console's editor is found by the host's search
        assert _host_search("collector buffer") == []
        answer = console.submit(
            "/console/kb/new",
            "/console/kb/new",
            {
                "title": "SMDR records stop: the collector's buffer is full",
                "body": "Empty the **collector buffer** folder, then restart the collector.",
                "tags": "smdr, collector",
                "versions": "",
            },
        )
        found = _eventually("the article in the host's search", lambda: _host_search("buffer"))
        assert found[0]["title"] == "SMDR records stop: the collector's buffer is full"
        assert found[0]["url"].startswith(f"{desk.url}/kb/")
    finally:
        console.close()

    # an upgrade asked by someone who is not the technical contact: refused, and why
    code, out, err = vx(
        capsys,
        "case",
        "upgrade",
        "--version",
        "7.4.2",
        "--to",
        "8.0",
        "--contact-name",
        "Eve Intern",
        "--contact-email",
        "eve@acme.example.com",
        "--case",
        str(first),
    )
    said = out + err
    assert "technical contact" in said and "Bob Jones" in said, (code, said)
    code, out, err = vx(capsys, "case", "update-requests")
    assert code == 0, err
    assert "technical contact" in out


def test_the_demo_opens_the_console_and_files_its_mail(tmp_path: Path) -> None:
    """``vxassist demo``'s banner is enough to walk the story: its console accounts
    sign in, its case is in the queue, its article is searchable, and the mail its
    desk sends lands in the folder it names."""
    from tests.e2e.harness import Demo

    demo = Demo(tmp_path, consent="deny", relay="dev")
    try:
        facts = demo.facts
        number = str(facts["case_number"])
        mail_dir = Path(facts["mail_dir"])
        assert facts["console_url"] == f"{facts['desk_url']}/console/"
        console = Console(facts["desk_url"])
        try:
            engineer = facts["engineer"]
            queue = console.sign_in(engineer, facts["console_accounts"][engineer])
            assert number in queue_rows(queue.text)[0]
            page = f"/console/cases/{number}"
            reply = "Which PBX firmware is installed?"
            assert "Reply sent" in console.submit(page, f"{page}/reply", {"text": reply}).text
            manager = next(name for name in facts["console_accounts"] if name != engineer)
            other = Console(facts["desk_url"])
            try:
                other.sign_in(manager, facts["console_accounts"][manager])
                assert "Engineers" in other.http.get("/console/engineers").text
            finally:
                other.close()
            found = console.http.get("/api/v1/kb/search", params={"q": "call records"})
            assert found.status_code == 200 and found.json()["articles"], found.text
        finally:
            console.close()
        assert reply in demo.host("case", "show", number).stdout

        def filed() -> list[str]:
            texts = [path.read_text() for path in sorted(mail_dir.glob("*.eml"))]
            return [text for text in texts if reply in text]

        [mail] = _eventually(f"the reply's mail in {mail_dir}", filed)
        assert "X-Rcpt-To: dana@example.com" in mail and f"[Case {number}]" in mail
    finally:
        assert demo.close() == 0, demo.terminal.text[-3000:]
