"""Walk the service platform's story against ``vxassist demo`` and picture each step.

Starts ``vxassist demo --headless`` (desk, relay, the demo's mail server, an
enrolled host with case 1001, an engineer and a manager with console passwords),
then, as a new user would: signs in to the console in Debian's chromium (driven
by Playwright, pointed at /usr/bin/chromium), finds the case at the top of the
queue, replies, reads the reply with the host's ``vxassist case show``, escalates
and finds the manager's mail in the demo's mail folder, files a second case whose
deadline then passes and finds the breach notice, writes a knowledge-base article
in the console and finds it with the host's search, and asks for an upgrade as
someone who is not the technical contact. Every step saves a picture into
``docs/service-walkthrough/`` (the host's terminal and the mails shown as text);
a step that does not happen stops the walk with a sentence and exit code 1.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
STEP_S = 60.0


class WalkFailed(Exception):
    pass


def eventually(what: str, check: Callable[[], Any], timeout_s: float = STEP_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise WalkFailed(f"{what} did not happen within {timeout_s:.0f} s")
        time.sleep(0.2)


class Walk:
    def __init__(self, out: Path, folder: Path) -> None:
        self.out = out
        self.folder = folder
        self.facts: dict[str, Any] = {}
        self.demo: subprocess.Popen[str] | None = None
        self.page: Any = None
        self.shots: list[str] = []

    # -- the demo ------------------------------------------------------------------

    def start_demo(self) -> None:
        log = (self.folder.parent / "service-walkthrough-demo.log").open("w")
        self.demo = subprocess.Popen(
            [
                *(sys.executable, "-m", "vxassist", "demo", "--headless", "--json"),
                *("--consent", "deny", "--relay", "dev", "--folder", str(self.folder)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
        assert self.demo.stdout is not None
        line = self.demo.stdout.readline()
        if not line.startswith("{"):
            raise WalkFailed(f"the demo did not start; see {log.name}")
        self.facts = json.loads(line)

    def stop_demo(self) -> None:
        demo, self.demo = self.demo, None
        if demo is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGINT)  # as Ctrl-C at its terminal
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(10)

    def host(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A ``vxassist`` command on the demo's host."""
        env = dict(os.environ)
        env["VXASSIST_HOME"] = self.facts["host_home"]
        env["VXASSIST_POLICY"] = str(Path(self.facts["host_home"]) / "policy.toml")
        return subprocess.run(
            [sys.executable, "-m", "vxassist", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    def mails(self) -> list[email.message.EmailMessage]:
        folder = Path(self.facts["mail_dir"])
        found = []
        for path in sorted(folder.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            found.append(message)
        return found

    def mail(self, to: str, *subject_has: str) -> email.message.EmailMessage:
        def find() -> email.message.EmailMessage | None:
            for message in self.mails():
                if to in str(message["X-Rcpt-To"]) and all(
                    part in str(message["Subject"]) for part in subject_has
                ):
                    return message
            return None

        found: email.message.EmailMessage = eventually(
            f"a mail to {to} about {' '.join(subject_has)} in {self.facts['mail_dir']}", find
        )
        return found

    # -- pictures --------------------------------------------------------------------

    def shot(self, name: str, page: Any = None) -> None:
        path = self.out / f"{name}.png"
        (page or self.page).screenshot(path=str(path), full_page=True)
        self.shots.append(path.name)
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        print(f"service-walkthrough: {shown}", flush=True)

    def show_text(self, name: str, title: str, text: str) -> None:
        """A picture of text: a terminal's output or a mail, as a person reads it.

        On a blank page of its own: the desk's pages forbid inline styles, and a
        short text needs no screen-high picture.
        """
        page = self.page.context.new_page()
        page.set_viewport_size({"width": 1100, "height": 120})
        page.set_content(
            "<!doctype html><meta charset=utf-8><body style='margin:0;background:#1e1e1e'>"
            "<div style='font:600 14px sans-serif;color:#ddd;background:#3a3a3a;"
            f"padding:8px 14px'>{html.escape(title)}</div>"
            "<pre style='margin:0;padding:14px;color:#e8e8e8;font:14px/1.45 monospace;"
            f"white-space:pre-wrap'>{html.escape(text.rstrip())}</pre></body>"
        )
        self.shot(name, page)
        page.close()

    def show_mail(self, name: str, title: str, message: email.message.EmailMessage) -> None:
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        head = "".join(f"{key}: {message[key]}\n" for key in ("From", "X-Rcpt-To", "Subject"))
        self.show_text(name, title, head.replace("X-Rcpt-To", "To") + "\n" + text)

    # -- the walk --------------------------------------------------------------------

    def walk(self, browser: Any) -> None:
        url = self.facts["desk_url"]
        number = str(self.facts["case_number"])
        engineer = self.facts["engineer"]
        password = self.facts["console_accounts"][engineer]
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(20_000)
        page = self.page = context.new_page()

        # 1. sign in, as the banner says
        page.goto(self.facts["console_url"])
        page.fill("input[name=name]", engineer)
        page.fill("input[name=password]", password)
        self.shot("01-sign-in")
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/console/")

        # 2. the host's case at the top of the queue, with its time left
        first = page.locator("table.queue tbody tr").first.inner_text()
        if number not in first or "left" not in first:
            raise WalkFailed(f"case {number} is not at the top of the queue with its time left")
        self.shot("02-queue")

        # 3. the case, and a reply
        page.goto(f"{url}/console/cases/{number}")
        reply = "Please restart the VXTracker collector and tell us what its log says."
        page.fill("form[action$='/reply'] textarea[name=text]", reply)
        page.click("form[action$='/reply'] button")
        page.wait_for_selector("text=Reply sent")
        self.shot("03-case-replied")

        # 4. the host reads the reply
        shown = self.host("case", "show", number)
        if shown.returncode != 0 or reply not in shown.stdout:
            raise WalkFailed(f"the host's `vxassist case show {number}` lacks the reply")
        self.show_text("04-host-reads-reply", f"host $ vxassist case show {number}", shown.stdout)

        # 5. escalate to the Manager of Technical Support; the mail arrives
        page.goto(f"{url}/console/cases/{number}")
        page.select_option("form[action$='/escalate'] select[name=level]", "manager")
        page.fill(
            "form[action$='/escalate'] textarea[name=reason]",
            "The customer has lost a day of billing records; needs a manager's call today.",
        )
        page.click("form[action$='/escalate'] button")
        page.wait_for_selector("text=Escalated")
        self.shot("05-escalated")
        manager = self.mail("tech-manager@demo.example", f"[Case {number}]")
        self.show_mail("06-manager-mail", "mail/ — the manager's briefing", manager)

        # 6. another case from the host; its deadline passes unanswered
        second = self.host(*self.case_flags("Reports show yesterday's totals twice"), "--json")
        if second.returncode != 0:
            raise WalkFailed(f"the host could not file a second case: {second.stderr.strip()}")
        other = str(json.loads(second.stdout)["case_number"])
        self.deadline_passed(other)
        breach = self.mail("support-team@demo.example", f"[Case {other}]", "BREACHED")
        page.goto(f"{url}/console/")
        page.wait_for_selector(f"table.queue >> text={other}")
        self.shot("07-queue-breached")
        self.show_mail("08-breach-mail", "mail/ — the breach notice to the engineers", breach)

        # 7. an article in the console's editor; the host's search finds it
        page.goto(f"{url}/console/kb/new")
        page.fill("input[name=title]", "Reports count calls twice after a collector restart")
        page.fill(
            "textarea[name=body]",
            "After a restart the collector may re-read the last SMDR file.\n\n"
            "1. Stop the **collector**.\n2. Delete `smdr.pos` in its folder.\n"
            "3. Start it again; totals are rebuilt within minutes.",
        )
        page.fill("input[name=tags]", "reports, collector")
        self.shot("09-kb-editor")
        page.click("form.card button[type=submit]")
        page.wait_for_load_state()
        self.shot("10-kb-saved")
        found = self.host_search("calls twice restart")
        titles = [article.get("title") for article in found]
        if "Reports count calls twice after a collector restart" not in titles:
            raise WalkFailed(f"the host's search did not find the new article: {titles}")
        page.goto(f"{url}/kb?q=calls+twice+restart")
        self.shot("11-kb-public-search")

        # 8. an upgrade asked by someone who is not the technical contact
        asked = self.host(
            "case",
            "upgrade",
            "--version",
            "9.1",
            "--to",
            "9.2",
            "--contact-name",
            "Eve Intern",
            "--contact-email",
            "eve@example.com",
            "--case",
            number,
        )
        said = asked.stdout + asked.stderr
        if "technical contact" not in said:
            raise WalkFailed(f"the upgrade was not refused for the technical contact: {said}")
        self.show_text(
            "12-host-upgrade-refused",
            "host $ vxassist case upgrade --version 9.1 --to 9.2 --contact-name 'Eve Intern' "
            f"--contact-email eve@example.com --case {number}",
            said,
        )
        page.goto(f"{url}/console/update-requests")
        self.shot("13-update-requests")
        page.goto(f"{url}/console/dashboard")
        self.shot("14-dashboard")
        context.close()

    def case_flags(self, brief: str) -> list[str]:
        from vxassist.demo import DEMO_CASE

        flags = ["case", "new", "--yes"]
        for key, value in DEMO_CASE.items():
            flags += [f"--{key.replace('_', '-')}", brief if key == "brief" else str(value)]
        return flags

    def deadline_passed(self, number: str) -> None:
        """Time moves on: the case's response deadline passed five minutes ago."""
        from sqlalchemy import update

        from vxassist.desk.db import Database
        from vxassist.desk.models import Case

        db = Database(self.facts["db_url"])
        try:
            with db.writing() as session:
                session.execute(
                    update(Case)
                    .where(Case.case_number == int(number))
                    .values(response_due=datetime.now(UTC) - timedelta(minutes=5))
                )
        finally:
            db.dispose()

    def host_search(self, query: str) -> list[dict[str, Any]]:
        """The host's knowledge-base search, through the agent runtime the tray uses."""
        import asyncio

        os.environ["VXASSIST_HOME"] = self.facts["host_home"]
        os.environ["VXASSIST_POLICY"] = str(Path(self.facts["host_home"]) / "policy.toml")
        from vxassist.cliutil import Context
        from vxassist.remote.consent import DenyPrompter
        from vxassist.runtime import AgentRuntime

        runtime = AgentRuntime(Context.create(), DenyPrompter(), lambda _event: None)
        # on a thread of its own: Playwright's synchronous API holds this thread's loop
        with ThreadPoolExecutor(1) as pool:
            found = pool.submit(asyncio.run, runtime.kb_search(query)).result(STEP_S)
        return found or []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "service-walkthrough"))
    parser.add_argument("--keep", action="store_true", help="keep the demo folder")
    args = parser.parse_args()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("service-walkthrough: Playwright is missing; run scripts/setup.sh", file=sys.stderr)
        return 1
    if not Path(CHROMIUM).exists():
        print("service-walkthrough: chromium is missing; run scripts/setup.sh", file=sys.stderr)
        return 1
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    base = Path(tempfile.mkdtemp(prefix="vx-service-walk-"))
    walk = Walk(out, base / "demo")
    try:
        walk.start_demo()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                walk.walk(browser)
            finally:
                browser.close()
    except WalkFailed as exc:
        print(f"service-walkthrough: {exc}; the demo's files are in {base}", file=sys.stderr)
        args.keep = True
        return 1
    finally:
        walk.stop_demo()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print(f"service-walkthrough: {len(walk.shots)} pictures in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
