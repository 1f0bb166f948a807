"""``[console]`` in desk.toml: the idle limit and the Secure cookie the operator chose."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.console.conftest import Console, add_engineer
from tests.desk.conftest import Desk
from vxassist.desk.config import DeskConfig, config_from_mapping
from vxassist.desk.console.auth import COOKIE
from vxassist.desk.consoleconfig import ConsoleConfig
from vxassist.errors import ConfigError


@pytest.fixture
def desk_config() -> DeskConfig:
    return DeskConfig(console=ConsoleConfig(idle_minutes=5, secure_cookie=True))


def test_the_configured_idle_limit_and_secure_cookie_apply(desk: Desk, console: Console) -> None:
    add_engineer(desk, "jdoe")
    # secure_cookie = true: Secure even on a plain-http request (a proxy that hides https)
    form = console.get("/console/signin")
    assert all("Secure" in c for c in form.headers.get_list("set-cookie"))
    assert form.headers.get_list("set-cookie")
    # the browser speaks https to the proxy in front
    console.client.base_url = console.client.base_url.copy_with(scheme="https")
    answer = console.sign_in("jdoe")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    assert "Secure" in cookie
    assert console.get("/console/", follow_redirects=False).status_code == 200
    desk.clock.advance(minutes=6)
    assert console.get("/console/", follow_redirects=False).status_code == 303


def test_console_settings_are_read_and_checked() -> None:
    where = Path("desk.toml")
    config = config_from_mapping(
        {"console": {"idle_minutes": 15, "session_hours": 8, "secure_cookie": False}}, where
    )
    assert config.console == ConsoleConfig(session_hours=8, idle_minutes=15, secure_cookie=False)
    assert config_from_mapping({}, where).console.secure_cookie is None  # "auto"
    for bad in ({"idle_minutes": 0}, {"secure_cookie": "yes"}, {"session_hours": "long"}):
        with pytest.raises(ConfigError, match="console"):
            config_from_mapping({"console": bad}, where)
