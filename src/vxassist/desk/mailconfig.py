"""The desk's notification settings: ``[mail]``, ``[escalation]``, ``[deadlines]``.

::

    [desk]
    public_url = "https://desk.example.com"      # links in mails: /console/cases/N

    [mail]
    smtp_host = "smtp.example.com"               # unset: notifications are off
    smtp_port = 587
    starttls = true                              # or ssl = true (port 465)
    user = "desk"
    password_env = "VX_SMTP_PASSWORD"            # or password_file = "/etc/vxassist/smtp"
    from = "support@communicado-inc.com"
    engineers = ["support-team@communicado-inc.com"]
    on_call = ["on-call@communicado-inc.com"]    # priority 1 and 2 out of hours

    [escalation]
    manager_email = "tech-manager@communicado-inc.com"   # a contract's own beats these
    sales_manager_email = "sales@communicado-inc.com"
    on_breach = "manager"                        # "", "manager" or "sales"

    [deadlines]
    warn_minutes = 60                            # "nearing its deadline" this long before
    check_every_s = 30
    notice_horizon_hours = 24                    # older breaches are marked, not mailed

The password never sits in the file itself: it comes from an environment
variable or a file only the desk's account can read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from vxassist.errors import ConfigError

ESCALATION_LEVELS = ("manager", "sales")


@dataclass(frozen=True)
class MailConfig:
    """How the desk reaches its SMTP server, and who hears what."""

    smtp_host: str = ""
    smtp_port: int = 25
    starttls: bool = False
    ssl: bool = False
    user: str = ""
    password: str = field(default="", repr=False)
    from_addr: str = ""
    #: desk-wide addresses of the engineers (new cases, deadlines)
    engineers: tuple[str, ...] = ()
    #: who is called out of hours for priority 1 and 2 (empty: the engineers)
    on_call: tuple[str, ...] = ()
    timeout_s: float = 30.0
    #: first retry after a failed send; doubles per attempt up to ``retry_cap_s``
    retry_base_s: float = 30.0
    retry_cap_s: float = 3600.0
    #: the slow timer of the sender (a written mail wakes it at once)
    poll_s: float = 30.0

    @property
    def enabled(self) -> bool:
        """Notifications are on only with a server and a sender address."""
        return bool(self.smtp_host and self.from_addr)


@dataclass(frozen=True)
class EscalationConfig:
    """Desk-wide escalation recipients (a contract's own come first) and breach policy."""

    manager_email: str = ""
    sales_manager_email: str = ""
    #: "" (never), "manager" or "sales": the desk escalates a breached case itself
    on_breach: str = ""


@dataclass(frozen=True)
class DeadlineConfig:
    """When engineers hear that a first response is nearly or already late."""

    warn_minutes: int = 60
    check_every_s: float = 30.0
    #: breaches older than this when first seen (a desk just upgraded) get no mail
    notice_horizon_hours: int = 24


def _bad(key: str, where: Path, what: str) -> ConfigError:
    return ConfigError(f"{key} in {where} {what}; fix the file and try again.")


def _address(value: Any, key: str, where: Path) -> str:
    text = str(value).strip()
    if not text:
        return ""
    _name, addr = parseaddr(text)
    if "@" not in addr or any(c in text for c in "\r\n,"):
        raise _bad(key, where, "must be one e-mail address like name@example.com")
    return text


def _addresses(value: Any, key: str, where: Path) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or [])
    return tuple(a for a in (_address(v, key, where) for v in items) if a)


def _password(mail: Mapping[str, Any], where: Path) -> str:
    if "password" in mail:
        raise _bad(
            "mail.password",
            where,
            "is not read from the file; use password_env (a variable) or password_file",
        )
    env = str(mail.get("password_env", "") or "")
    if env:
        if env not in os.environ:
            raise ConfigError(
                f"mail.password_env in {where} names {env}, which is not set; set it before "
                "starting the desk."
            )
        return os.environ[env]
    file = str(mail.get("password_file", "") or "")
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"mail.password_file {file} cannot be read; check the path and its permissions.",
                detail=str(exc),
            ) from exc
    return ""


def mail_config_from_mapping(data: Mapping[str, Any], where: Path) -> MailConfig:
    mail = data.get("mail", {}) or {}
    starttls = bool(mail.get("starttls", False))
    ssl = bool(mail.get("ssl", False))
    if starttls and ssl:
        raise _bad("mail.starttls and mail.ssl", where, "cannot both be true")
    default_port = 465 if ssl else (587 if starttls else 25)
    config = MailConfig(
        smtp_host=str(mail.get("smtp_host", "") or ""),
        smtp_port=int(mail.get("smtp_port", default_port)),
        starttls=starttls,
        ssl=ssl,
        user=str(mail.get("user", "") or ""),
        password=_password(mail, where),
        from_addr=_address(mail.get("from", ""), "mail.from", where),
        engineers=_addresses(mail.get("engineers", ()), "mail.engineers", where),
        on_call=_addresses(mail.get("on_call", ()), "mail.on_call", where),
        timeout_s=float(mail.get("timeout_s", MailConfig.timeout_s)),
        retry_base_s=float(mail.get("retry_base_s", MailConfig.retry_base_s)),
        retry_cap_s=float(mail.get("retry_cap_s", MailConfig.retry_cap_s)),
        poll_s=float(mail.get("poll_s", MailConfig.poll_s)),
    )
    if config.smtp_host and not config.from_addr:
        raise _bad("mail.from", where, "is needed with mail.smtp_host (the sender's address)")
    return config


def escalation_config_from_mapping(data: Mapping[str, Any], where: Path) -> EscalationConfig:
    esc = data.get("escalation", {}) or {}
    on_breach = str(esc.get("on_breach", "") or "")
    if on_breach not in ("", *ESCALATION_LEVELS):
        raise _bad("escalation.on_breach", where, 'must be "", "manager" or "sales"')
    return EscalationConfig(
        manager_email=_address(esc.get("manager_email", ""), "escalation.manager_email", where),
        sales_manager_email=_address(
            esc.get("sales_manager_email", ""), "escalation.sales_manager_email", where
        ),
        on_breach=on_breach,
    )


def deadline_config_from_mapping(data: Mapping[str, Any], where: Path) -> DeadlineConfig:
    section = data.get("deadlines", {}) or {}
    config = DeadlineConfig(
        warn_minutes=int(section.get("warn_minutes", DeadlineConfig.warn_minutes)),
        check_every_s=float(section.get("check_every_s", DeadlineConfig.check_every_s)),
        notice_horizon_hours=int(
            section.get("notice_horizon_hours", DeadlineConfig.notice_horizon_hours)
        ),
    )
    if config.warn_minutes < 0 or config.check_every_s <= 0 or config.notice_horizon_hours <= 0:
        raise _bad("[deadlines]", where, "must have positive numbers")
    return config


def public_url_from_mapping(data: Mapping[str, Any]) -> str:
    desk = data.get("desk", {}) or {}
    return str(desk.get("public_url", "") or "").rstrip("/")
