"""Desk configuration: response times and closed days change the deadlines it answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest

from tests.desk.conftest import Desk
from vxassist.desk.config import DeskConfig, config_from_mapping, load_desk_config
from vxassist.errors import ConfigError


def test_defaults_follow_the_support_policy() -> None:
    config = load_desk_config(None)
    assert config.calendar.tz == "America/Los_Angeles"
    assert (config.calendar.opens, config.calendar.closes) == (time(6, 30), time(17, 30))
    assert dict(config.calendar.response_minutes) == {1: 60, 2: 120, 3: 240, 4: 480}
    assert config.support.email == "support@communicado-inc.com"
    assert config.enrollment_code_days == 7


def test_file_values_are_read(tmp_path: Path) -> None:
    path = tmp_path / "desk.toml"
    path.write_text(
        '[support]\nemail = "help@vendor.example"\n'
        '[calendar]\nopens = "07:00"\nholidays = ["2026-12-24", 2026-12-31]\n'
        "[response_minutes]\n1 = 30\n"
        "[enrollment]\ncode_days = 3\n",
        encoding="utf-8",
    )
    config = load_desk_config(path)
    assert config.support.email == "help@vendor.example"
    assert config.calendar.opens == time(7, 0)
    assert config.calendar.extra_holidays == {date(2026, 12, 24), date(2026, 12, 31)}
    assert dict(config.calendar.response_minutes)[1] == 30
    assert dict(config.calendar.response_minutes)[4] == 480
    assert config.enrollment_code_days == 3


@pytest.mark.parametrize(
    "data",
    [
        {"response_minutes": {"1": "soon"}},
        {"response_minutes": {"2": 0}},
        {"calendar": {"timezone": "Mars/Olympus"}},
        {"calendar": {"holidays": ["christmas"]}},
        {"calendar": {"opens": "18:00"}},
    ],
)
def test_bad_values_are_a_sentence(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as failed:
        config_from_mapping(data, Path("desk.toml"))
    assert "desk.toml" in failed.value.message


def test_missing_file_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_desk_config(tmp_path / "nope.toml")


@pytest.fixture
def desk_config() -> DeskConfig:
    # Wednesday 2026-11-25 is closed, and P4 gets 30 business minutes
    return config_from_mapping(
        {"calendar": {"holidays": ["2026-11-25"]}, "response_minutes": {"4": 30}},
        Path("desk.toml"),
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_desk_answers_with_its_configured_calendar(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    desk.clock.now = datetime(2026, 11, 25, 1, 15, tzinfo=UTC)  # Tue 17:15 in Los Angeles
    case = desk.create(host, priority=4).json()
    # 15 minutes on Tuesday, Wednesday closed, Thursday Thanksgiving: Friday 06:45 PST
    assert case["response_due"] == "2026-11-27T14:45:00Z"
