"""Take the web console's screenshots in docs/console/ with Debian's chromium.

Starts ``vxassist desk serve`` on a fresh SQLite desk, files a few cases from an
enrolled host (one carries the system report of the recorded Windows VXTracker
server in tests/data/machines), has an engineer answer some, then signs in with
Playwright driving ``/usr/bin/chromium`` and saves sign-in, queue, case and
dashboard at 1280x900.

    .venv/bin/python docs/console/screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402
from tests.fakes.probe_recorded import RecordedProbe  # noqa: E402
from tests.fixtures.desk import RunningDesk  # noqa: E402

from vxassist.desk import admin, casework  # noqa: E402
from vxassist.desk.auth import Caller  # noqa: E402
from vxassist.deskclient import DeskClient  # noqa: E402
from vxassist.sysinfo.report import collect_report  # noqa: E402

OUT = Path(__file__).resolve().parent
PASSWORD = "screenshot password"

CASES = [
    # (priority, company contract, brief, details)
    (
        1,
        "C-2001",
        "VXTracker is down: no calls recorded since 06:10",
        "All four sites stopped recording at 06:10. The VXTracker service is running but the "
        "SMDR link shows no records.",
        "Restarted the VXTracker service and the server.",
    ),
    (
        2,
        "C-2002",
        "Call reports show the wrong time zone",
        "Since the daylight-saving change every report is one hour late.",
        "Checked the Windows time zone; it is right.",
    ),
    (
        3,
        "C-2001",
        "Export to CSV drops the extension column",
        "The monthly export has no extension column since the upgrade to 7.4.2.",
        "Tried the export from two workstations.",
    ),
    (
        4,
        "C-2003",
        "How do I add a supervisor account?",
        "We have a new call-centre supervisor and need an account for her.",
        "Read the manual.",
    ),
    (
        2,
        "C-2003",
        "Playback stutters on archived calls",
        "Calls older than 90 days play with gaps every few seconds.",
        "Moved the archive to a faster disk.",
    ),
]


def main() -> None:
    report = collect_report(probe=RecordedProbe("win-vxtracker-sqlserver-avaya")).to_dict()
    with tempfile.TemporaryDirectory(prefix="vx-console-shots-") as tmp:
        desk = RunningDesk(Path(tmp)).start()
        try:
            for contract_id, company in (
                ("C-2001", "Harbor Freight Hotels"),
                ("C-2002", "Sierra Medical Group"),
                ("C-2003", "Tahoe County Dispatch"),
            ):
                desk.add_contract(contract_id, company)
            db = desk._db()
            now = datetime.now(UTC)
            admin.add_engineer(db, "jdoe", now, password=PASSWORD, manager=True)
            admin.add_engineer(db, "mlee", now, password=PASSWORD)
            numbers = []
            for priority, contract_id, brief, details, steps in CASES:
                with DeskClient(desk.url, None, timeout=10) as anonymous:
                    token = anonymous.enroll(
                        desk.enrollment_code(contract_id), f"vxt-{uuid.uuid4().hex[:6]}", None
                    )["token"]
                with DeskClient(desk.url, token, timeout=10) as host:
                    body = {
                        "company": "(from the contract)",
                        "install_type": "multi-site, 4 servers",
                        "location": "Reno, NV",
                        "database_type": "SQL Server 2019 Express",
                        "vxtracker_server": "VXT01 7.4.2",
                        "pbx_manufacturer": "Avaya",
                        "pbx_model": "IP Office 500 V2",
                        "contact_name": "Bob Jones",
                        "contact_phone": "+1 775 555 0100",
                        "contact_email": "bob.jones@example.com",
                        "brief": brief,
                        "details": details,
                        "steps_taken": steps,
                        "priority": priority,
                        "continues_case": None,
                        "third_party_app": None,
                        "third_party_version": None,
                        "system_report": report,
                    }
                    numbers.append(host.create_case(body, uuid.uuid4().hex)["case_number"])
            who = Caller(kind="engineer", name="mlee")
            now = datetime.now(UTC)
            with db.writing() as session:
                case = casework.find_case(session, str(numbers[1]), who)
                casework.assign(session, case, who, "mlee", now)
                casework.reply(
                    session,
                    case,
                    who,
                    "Thanks, Bob. Which VXTracker version runs on the report server?",
                    now,
                )
                casework.set_status(session, case, who, "waiting_customer", None, now)
                case = casework.find_case(session, str(numbers[0]), who)
                casework.assign(session, case, who, "jdoe", now)
                casework.note(
                    session,
                    case,
                    who,
                    "SMDR port 9100 answers but sends nothing: likely the PBX side.",
                    now,
                )
            db.dispose()
            shoot(desk.url, numbers[0])
        finally:
            desk.stop()


def shoot(url: str, number: int) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/console/signin")
        page.fill("input[name=name]", "jdoe")
        page.screenshot(path=str(OUT / "signin.png"))
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/console/")
        page.screenshot(path=str(OUT / "queue.png"))
        page.goto(f"{url}/console/cases/{number}")
        page.screenshot(path=str(OUT / "case.png"))
        # the system report, further down: its sections open as the engineer clicks them
        heading = page.locator("h2", has_text="System report")
        sections = heading.locator("xpath=following-sibling::details")
        for i in (1, 3):
            sections.nth(i).locator("summary").click()
        heading.evaluate("h => window.scrollTo(0, h.getBoundingClientRect().top + scrollY - 10)")
        page.screenshot(path=str(OUT / "case-report.png"))
        page.goto(f"{url}/console/dashboard")
        page.screenshot(path=str(OUT / "dashboard.png"))
        browser.close()
    print("saved", ", ".join(p.name for p in sorted(OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
