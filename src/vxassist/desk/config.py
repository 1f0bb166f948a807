"""The desk's own configuration: support channels, calendar, response times.

Read from a TOML file (``vxassist desk serve --config FILE``); every value has a
default from the support policy, so a desk runs with no file at all::

    [support]
    email = "support@communicado-inc.com"
    phone = "(866) 489-8722, option 2"

    [calendar]
    timezone = "America/Los_Angeles"
    opens = "06:30"
    closes = "17:30"
    country = "US"                      # national holidays; "" for none
    holidays = ["2026-12-24", "2026-12-31"]   # the desk's own closed days

    [response_minutes]                  # business minutes, per priority
    1 = 60
    2 = 120
    3 = 240
    4 = 480

    [enrollment]
    code_days = 7
    max_failures = 10                   # failed attempts per source and window: then 429
    failure_window_s = 600

    [contracts]
    expired_host_days = 30              # unset: hosts of an expired contract keep filing

    [cases]
    attachment_max_bytes = 2097152      # the largest log file a host may attach

    [mail], [escalation], [deadlines], [desk] public_url: e-mail notifications
    (desk/mailconfig.py)

    [updates]                           # told to agents; see desk/release.py
    latest_version = "0.2.0"
    download_url = "https://downloads.example.com/vxassist/"
    notes = ""
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any

from vxassist.cases.sla import DEFAULT_RESPONSE_MINUTES, SupportCalendar
from vxassist.desk.consoleconfig import ConsoleConfig, console_config_from_mapping
from vxassist.desk.mailconfig import (
    DeadlineConfig,
    EscalationConfig,
    MailConfig,
    deadline_config_from_mapping,
    escalation_config_from_mapping,
    mail_config_from_mapping,
    public_url_from_mapping,
)
from vxassist.desk.release import ReleaseNotice, release_notice_from_mapping
from vxassist.desk.sessions.config import SessionsConfig, sessions_config_from_mapping
from vxassist.errors import ConfigError
from vxassist.settings import SupportContact


@dataclass(frozen=True)
class DeskConfig:
    """What a desk operator may change without touching code."""

    support: SupportContact = field(default_factory=SupportContact)
    calendar: SupportCalendar = field(default_factory=SupportCalendar)
    #: days an enrollment code stays usable
    enrollment_code_days: int = 7
    #: largest request body the desk accepts, in bytes (the system report included)
    max_body_bytes: int = 4 * 1024 * 1024
    #: the session broker: relay, CA folder, request timeout ([relay], [sessions])
    sessions: SessionsConfig = field(default_factory=SessionsConfig)
    #: days after its contract's end that a host's token still works ([contracts]
    #: expired_host_days). None (the default), as the support policy says: the host
    #: still files requests, which are kept and answered with the reason
    expired_host_days: int | None = None
    #: failed enrollment attempts one source may make per window before a 429
    enrollment_failures: int = 10
    enrollment_window_s: float = 600.0
    #: notifications by e-mail ([mail]; off without smtp_host), escalation recipients and
    #: breach policy ([escalation]), deadline notices ([deadlines]): see desk/mailconfig.py
    mail: MailConfig = field(default_factory=MailConfig)
    escalation: EscalationConfig = field(default_factory=EscalationConfig)
    deadlines: DeadlineConfig = field(default_factory=DeadlineConfig)
    #: the desk's address as engineers reach it ([desk] public_url), for links in mails
    public_url: str = ""
    #: the largest log file a host may attach to an update, in bytes ([cases])
    attachment_max_bytes: int = 2 * 1024 * 1024
    #: the newest agent version, told to agents at enrollment and whoami ([updates])
    updates: ReleaseNotice = field(default_factory=ReleaseNotice)
    #: web-console sign-ins: lifetime, idle limit, Secure cookie ([console])
    console: ConsoleConfig = field(default_factory=ConsoleConfig)


def _time(value: Any, key: str, where: Path) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(
            f"calendar.{key} in {where} must be a time like 06:30; fix the file and try again.",
            detail=str(exc),
        ) from exc


def config_from_mapping(data: Mapping[str, Any], where: Path) -> DeskConfig:
    """A ``DeskConfig`` from parsed TOML, with a sentence for each bad value."""
    base_support = SupportContact()
    support = data.get("support", {})
    cal = data.get("calendar", {})
    minutes = data.get("response_minutes", {})
    enrollment = data.get("enrollment", {})
    contracts = data.get("contracts", {})
    try:
        response = dict(DEFAULT_RESPONSE_MINUTES)
        response.update({int(k): int(v) for k, v in minutes.items()})
        calendar = SupportCalendar(
            tz=str(cal.get("timezone", SupportCalendar.tz)),
            opens=_time(cal.get("opens", "06:30"), "opens", where),
            closes=_time(cal.get("closes", "17:30"), "closes", where),
            country=str(cal.get("country", SupportCalendar.country)),
            extra_holidays=frozenset(
                d if isinstance(d, date) else date.fromisoformat(str(d))
                for d in cal.get("holidays", [])
            ),
            response_minutes=tuple(sorted(response.items())),
        )
        return DeskConfig(
            support=SupportContact(
                email=str(support.get("email", base_support.email)),
                phone=str(support.get("phone", base_support.phone)),
                website=str(support.get("website", base_support.website)),
            ),
            calendar=calendar,
            enrollment_code_days=int(enrollment.get("code_days", 7)),
            expired_host_days=(
                None
                if contracts.get("expired_host_days") is None
                else int(contracts["expired_host_days"])
            ),
            enrollment_failures=int(enrollment.get("max_failures", 10)),
            enrollment_window_s=float(enrollment.get("failure_window_s", 600.0)),
            max_body_bytes=int(data.get("max_body_bytes", DeskConfig.max_body_bytes)),
            sessions=sessions_config_from_mapping(data, where),
            mail=mail_config_from_mapping(data, where),
            console=console_config_from_mapping(data, where),
            escalation=escalation_config_from_mapping(data, where),
            deadlines=deadline_config_from_mapping(data, where),
            public_url=public_url_from_mapping(data),
            attachment_max_bytes=int(
                data.get("cases", {}).get("attachment_max_bytes", DeskConfig.attachment_max_bytes)
            ),
            updates=release_notice_from_mapping(data.get("updates"), where),
        )
    except ConfigError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ConfigError(
            f"The desk configuration {where} has a value it cannot use; see docs/desk-api.md.",
            detail=repr(exc),
        ) from exc


def load_desk_config(path: Path | None) -> DeskConfig:
    """The configuration in ``path``, or the defaults when no file is named."""
    if path is None:
        return DeskConfig()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"The desk configuration {path} does not exist; check the --config path.",
            detail=str(exc),
        ) from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"The desk configuration {path} cannot be read as TOML; fix it and try again.",
            detail=str(exc),
        ) from exc
    return config_from_mapping(data, path)
