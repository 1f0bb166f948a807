"""The console on a real desk (SQLite and PostgreSQL, from tests/desk/conftest.py),
driven through HTTP as a browser without JavaScript would: forms, cookies, redirects.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.desk import conftest as desk_fixtures
from tests.desk.conftest import (  # noqa: F401 (fixtures)
    Desk,
    clock,
    db_url,
    desk_config,
    postgres_template,
    sqlite_template,
)
from tests.fixtures.postgres import postgres_server, postgres_url  # noqa: F401 (fixtures)
from vxassist.desk import admin

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_PRE = re.compile(r'name="pre" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


class Console:
    """One browser on the console: its own cookie jar over the desk's app."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.client = TestClient(desk.app)

    def sign_in(self, name: str, password: str = PASSWORD, follow: bool = False) -> Any:
        form = self.client.get("/console/signin")
        assert form.status_code == 200, form.text
        pre = _PRE.search(form.text)
        assert pre
        return self.client.post(
            "/console/signin",
            data={"pre": pre.group(1), "next": "/console/", "name": name, "password": password},
            follow_redirects=follow,
        )

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post_form(self, page: str, action: str, data: dict[str, str], **kw: Any) -> Any:
        """Submit a form of ``page`` (its CSRF token included), as the browser would."""
        token = csrf_of(self.client.get(page).text)
        kw.setdefault("follow_redirects", True)
        return self.client.post(action, data={"csrf": token, **data}, **kw)


def add_engineer(desk: Desk, name: str = "jdoe", manager: bool = False) -> str:
    """An engineer with a console password; their API token."""
    token: str = admin.add_engineer(
        desk.db, name, desk.clock(), password=PASSWORD, manager=manager
    )["token"]
    return token


# the desk of tests/desk (the app over SQLite and PostgreSQL, a settable clock)
desk = desk_fixtures.desk


@pytest.fixture
def console(desk: Desk) -> Console:
    return Console(desk)


@pytest.fixture
def signed_in(desk: Desk, console: Console) -> Console:
    """jdoe, a manager, signed in."""
    add_engineer(desk, "jdoe", manager=True)
    answer = console.sign_in("jdoe")
    assert answer.status_code == 303, answer.text
    return console
