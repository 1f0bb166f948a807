"""Signing in and out, sessions that end, CSRF, and a removed engineer."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.console.conftest import PASSWORD, Console, add_engineer, csrf_of
from tests.desk.conftest import Desk
from vxassist.desk import admin
from vxassist.desk.console.auth import COOKIE
from vxassist.desk.models import ConsoleSession
from vxassist.desk.tokens import token_hash


def test_a_page_without_a_session_sends_to_sign_in(console: Console) -> None:
    answer = console.get("/console/?priority=1", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/signin?next=%2Fconsole%2F%3Fpriority%3D1"


def test_sign_in_sets_a_strict_http_only_cookie_whose_token_is_stored_hashed(
    desk: Desk, console: Console
) -> None:
    add_engineer(desk, "jdoe")
    answer = console.sign_in("jdoe")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it (next test)
    token = console.client.cookies[COOKIE]
    with desk.db.reading() as session:
        stored = list(session.scalars(select(ConsoleSession.token_hash)))
    assert stored == [token_hash(token)]
    queue = console.get("/console/")
    assert queue.status_code == 200 and "jdoe" in queue.text


def test_over_https_the_cookie_is_secure(desk: Desk) -> None:
    add_engineer(desk, "jdoe")
    browser = Console(desk)
    browser.client.base_url = browser.client.base_url.copy_with(scheme="https")
    answer = browser.sign_in("jdoe")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    assert "Secure" in cookie


def test_a_wrong_password_or_name_is_refused_with_one_sentence(
    desk: Desk, console: Console
) -> None:
    add_engineer(desk, "jdoe")
    for name, password in (("jdoe", "wrong password"), ("nobody", PASSWORD)):
        answer = console.sign_in(name, password)
        assert answer.status_code == 401
        assert "do not match an engineer with console access" in answer.text
        assert COOKIE not in console.client.cookies


def test_an_engineer_without_a_password_cannot_sign_in(desk: Desk, console: Console) -> None:
    admin.add_engineer(desk.db, "apionly", desk.clock())
    assert console.sign_in("apionly", "").status_code == 401
    assert console.sign_in("apionly", "anything at all").status_code == 401


def test_repeated_failures_are_throttled(desk: Desk, console: Console) -> None:
    add_engineer(desk, "jdoe")
    codes = [console.sign_in("jdoe", f"guess number {i}").status_code for i in range(6)]
    assert codes[:5] == [401] * 5
    assert codes[5] == 429
    # even the right password waits now
    late = console.sign_in("jdoe")
    assert late.status_code == 429 and "Too many failed sign-ins" in late.text


def test_sign_in_form_from_elsewhere_is_refused(desk: Desk, console: Console) -> None:
    add_engineer(desk, "jdoe")
    answer = console.client.post(
        "/console/signin",
        data={"pre": "forged", "next": "/console/", "name": "jdoe", "password": PASSWORD},
        follow_redirects=False,
    )
    assert answer.status_code == 403
    assert COOKIE not in console.client.cookies


def test_next_never_leaves_the_console(desk: Desk, console: Console) -> None:
    add_engineer(desk, "jdoe")
    form = console.get("/console/signin?next=https://evil.example/")
    assert 'value="/console/"' in form.text


def test_sign_out_ends_the_session(signed_in: Console, desk: Desk) -> None:
    token = signed_in.client.cookies[COOKIE]
    answer = signed_in.post_form("/console/", "/console/signout", {}, follow_redirects=False)
    assert answer.status_code == 303
    with desk.db.reading() as session:
        assert session.get(ConsoleSession, token_hash(token)) is None
    # the old cookie, replayed, opens nothing
    replay = Console(desk)
    replay.client.cookies.set(COOKIE, token, path="/console")
    assert replay.get("/console/", follow_redirects=False).status_code == 303


def test_a_session_ends_after_its_idle_limit_and_its_lifetime(
    signed_in: Console, desk: Desk
) -> None:
    assert signed_in.get("/console/", follow_redirects=False).status_code == 200
    desk.clock.advance(minutes=61)
    assert signed_in.get("/console/", follow_redirects=False).status_code == 303

    signed_in.sign_in("jdoe")
    start = desk.clock()
    for _ in range(20):  # busy all day: 50 minutes apart, never idle for an hour
        desk.clock.advance(minutes=50)
        answer = signed_in.get("/console/", follow_redirects=False)
        if answer.status_code != 200:
            break
    assert answer.status_code == 303
    # it ended at its twelve-hour lifetime, not before
    assert timedelta(hours=12) <= desk.clock() - start < timedelta(hours=12, minutes=50)


def test_a_forged_form_without_the_csrf_token_is_refused(signed_in: Console, desk: Desk) -> None:
    for data in ({}, {"csrf": "not-the-token"}, {"csrf": ""}):
        answer = signed_in.client.post(
            "/console/contracts",
            data={
                **data,
                "contract_id": "C-EVIL",
                "company": "Evil",
                "expires": "2030-01-01",
                "contact_name": "x",
                "contact_phone": "1",
                "contact_email": "x@example.com",
            },
        )
        assert answer.status_code == 403
        assert "did not come from your console page" in answer.text
    assert admin.list_contracts(desk.db, desk.clock(), desk.config) == []


def test_a_json_post_is_not_a_console_form(signed_in: Console) -> None:
    token = csrf_of(signed_in.get("/console/").text)
    answer = signed_in.client.post("/console/signout", json={"csrf": token})
    assert answer.status_code == 400


def test_a_removed_engineer_loses_the_console_at_once(desk: Desk) -> None:
    add_engineer(desk, "boss", manager=True)
    add_engineer(desk, "leaver")
    boss, leaver = Console(desk), Console(desk)
    boss.sign_in("boss")
    leaver.sign_in("leaver")
    assert leaver.get("/console/", follow_redirects=False).status_code == 200
    page = boss.post_form("/console/engineers", "/console/engineers/remove", {"name": "leaver"})
    assert "Engineer leaver removed" in page.text
    answer = leaver.get("/console/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/signin")
    with desk.db.reading() as session:
        assert len(list(session.scalars(select(ConsoleSession)))) == 1  # the boss's


def test_a_new_password_ends_the_old_sessions(signed_in: Console, desk: Desk) -> None:
    admin.set_password(desk.db, "jdoe", "another long password", desk.clock())
    assert signed_in.get("/console/", follow_redirects=False).status_code == 303
    assert signed_in.sign_in("jdoe", "another long password").status_code == 303
