"""The fallbacks after the desk: e-mail to support, then a file for another channel.

The message carries every field of the request in its body, the brief
description as subject (``[Case N]`` in front when it continues a case), and the
system report as a JSON attachment, so support can open a case from it by hand.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import smtplib
import ssl
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from vxassist.cases.fields import CASE_FIELDS, Priority
from vxassist.cases.outbox import (
    FallbackResult,
    Kind,
    OutboxError,
    OutboxFull,
    OutboxItem,
    State,
    is_disk_full,
    utc_now,
)
from vxassist.settings import Settings, SmtpSettings

log = logging.getLogger(__name__)

SMTP_SECRET = "smtp-password"


class MailError(OutboxError):
    """The e-mail could not be handed to the mail server."""


def _case_number(body: dict[str, Any], path: str) -> int | None:
    value = body.get("continues_case")
    if isinstance(value, int):
        return value
    if "/cases/" in path:
        part = path.split("/cases/", 1)[1].split("/", 1)[0]
        if part.isdigit():
            return int(part)
    return None


def subject_for(item: OutboxItem) -> str:
    body = item.body
    number = _case_number(body, item.path)
    if item.kind is Kind.UPDATE:
        text = " ".join(str(body.get("text", "")).split())
        brief = f"Update: {text[:100]}" if text else "Update"
    else:
        brief = " ".join(str(body.get("brief", "")).split()) or "Support request"
    return f"[Case {number}] {brief}" if number else brief


def body_text(item: OutboxItem, reason: str) -> str:
    body = item.body
    lines = [
        "This support request is sent by e-mail because the support desk could not take it.",
        f"Reason: {reason}",
        f"Request reference (idempotency key): {item.idempotency_key}",
        f"Written at: {item.created_at.isoformat()}",
        "",
    ]
    if item.kind is Kind.UPDATE:
        lines += [
            f"Case: {_case_number(body, item.path)}",
            f"New priority: {body.get('priority') or 'unchanged'}",
            "",
            "Update:",
            str(body.get("text", "")),
            "",
            "Fresh system report: attached as system-report.json"
            if body.get("system_report")
            else "Fresh system report: not included",
        ]
        names = [str(f.get("filename")) for f in _logs(body)]
        if names:
            lines.append("Log files (secrets removed): attached as " + ", ".join(names))
        return "\n".join(lines) + "\n"
    for spec in CASE_FIELDS:
        value = body.get(spec.name)
        if spec.name == "priority" and isinstance(value, int):
            with contextlib.suppress(ValueError):
                value = f"{value} ({Priority(value).label})"
        shown = "" if value is None else str(value)
        if "\n" in shown:
            lines += [f"{spec.label}:", shown, ""]
        else:
            lines.append(f"{spec.label}: {shown or '(none)'}")
    for index, also in enumerate(body.get("also") or [], start=1):
        lines += [
            "",
            f"Further issue {index} (please open a separate case):",
            f"  Brief description: {also.get('brief', '')}",
            f"  Priority level: {also.get('priority', '')}",
            f"  Detailed description: {also.get('details', '')}",
            f"  Steps already taken: {also.get('steps_taken', '')}",
        ]
    lines += [
        "",
        "System report: attached as system-report.json"
        if body.get("system_report")
        else "System report: not included",
    ]
    return "\n".join(lines) + "\n"


def build_message(
    item: OutboxItem, settings: Settings, reason: str, now: datetime | None = None
) -> EmailMessage:
    """The e-mail for ``item`` to the configured support address."""
    msg = EmailMessage()
    sender = (
        settings.smtp.sender or str(item.body.get("contact_email") or "") or settings.support.email
    )
    msg["From"] = sender
    msg["To"] = settings.support.email
    contact = item.body.get("contact_email")
    if contact and contact != sender:
        msg["Reply-To"] = str(contact)
    msg["Subject"] = subject_for(item)
    msg["Date"] = format_datetime(now or utc_now())
    msg["Message-ID"] = make_msgid(domain="vxassist.invalid")
    msg["X-Vxassist-Request"] = item.idempotency_key
    msg.set_content(body_text(item, reason))
    report = item.body.get("system_report")
    if report:
        msg.add_attachment(
            json.dumps(report, indent=2, ensure_ascii=False).encode("utf-8"),
            maintype="application",
            subtype="json",
            filename="system-report.json",
        )
    for log in _logs(item.body):
        with contextlib.suppress(ValueError, TypeError):
            msg.add_attachment(
                base64.b64decode(str(log.get("content_base64", ""))),
                maintype="text",
                subtype="plain",
                filename=str(log.get("filename", "log.txt")),
            )
    return msg


def _logs(body: Any) -> list[dict[str, Any]]:
    """The log files an update carries (already scrubbed on this host)."""
    found = body.get("attachments") if isinstance(body, dict) else None
    return [f for f in found if isinstance(f, dict)] if isinstance(found, list) else []


def send_message(msg: EmailMessage, smtp: SmtpSettings, password: str | None = None) -> None:
    """Hand ``msg`` to the configured mail server; ``MailError`` when it will not take it."""
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username:
                client.login(smtp.username, password or "")
            client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(
            f"The mail server {smtp.host}:{smtp.port} did not take the e-mail; check the "
            "[smtp] settings or send the saved request another way.",
            detail=repr(exc),
        ) from exc


def save_for_other_channel(folder: Path, item: OutboxItem, msg: EmailMessage) -> tuple[Path, Path]:
    """The request as ``.eml`` (ready to send) and ``.json`` (the desk's body)."""
    stem = f"request-{item.id}-{item.idempotency_key[:8]}"
    eml, data = folder / f"{stem}.eml", folder / f"{stem}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        eml.write_bytes(bytes(msg))
        data.write_text(
            json.dumps(
                {
                    "method": item.method,
                    "path": item.path,
                    "idempotency_key": item.idempotency_key,
                    "body": item.body,
                },
                indent=2,
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
    except OSError as exc:
        if is_disk_full(exc):
            raise OutboxFull(
                f"There is no space left on the disk to save the request in {folder}; free "
                "some space: the request stays in the outbox and is tried again.",
                detail=repr(exc),
            ) from exc
        raise OutboxError(
            f"The request cannot be saved in {folder}; check that the folder is writable: "
            "the request stays in the outbox and is tried again.",
            detail=repr(exc),
        ) from exc
    return eml, data


class MailFallback:
    """E-mail to support, else the two files; the outbox's ``Fallback``."""

    def __init__(self, settings: Settings, unsent_dir: Path, password: str | None = None) -> None:
        self.settings = settings
        self.unsent_dir = unsent_dir
        self.password = password

    def __call__(self, item: OutboxItem, reason: str) -> FallbackResult:
        msg = build_message(item, self.settings, reason)
        try:
            send_message(msg, self.settings.smtp, self.password)
        except MailError as exc:
            log.warning("e-mail fallback failed for item %s: %s", item.id, exc.detail)
            eml, data = save_for_other_channel(self.unsent_dir, item, msg)
            return FallbackResult(State.SAVED, f"{eml} and {data}")
        return FallbackResult(State.EMAILED, self.settings.support.email)
