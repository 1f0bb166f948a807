"""Case intake as one service for the command line and the tray: outbox first, then the desk.

``submit_case`` writes the request to the outbox, then makes one attempt to
deliver it; whatever happens, the outbox item says where the request is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vxassist.cases.mailer import SMTP_SECRET, MailFallback
from vxassist.cases.model import CaseError, CaseRequest
from vxassist.cases.outbox import (
    Kind,
    OutboxItem,
    OutboxSender,
    OutboxStore,
    RetryPolicy,
    utc_now,
)
from vxassist.deskclient import API, DEFAULT_TIMEOUT_S, DeskClient, update_body
from vxassist.errors import SecretsError
from vxassist.paths import Paths
from vxassist.secrets import SecretStore
from vxassist.settings import Settings

log = logging.getLogger(__name__)

TOKEN_SECRET = "desk-token"
#: how long ``case new`` waits for the desk before leaving the request queued
SUBMIT_TIMEOUT_S = DEFAULT_TIMEOUT_S


class NotEnrolled(CaseError):
    """This host has no desk address or token."""


def unsent_dir(paths: Paths) -> Any:
    return paths.data_dir / "unsent"


def open_store(paths: Paths) -> OutboxStore:
    return OutboxStore(paths.outbox_dir)


def desk_client(
    settings: Settings, secrets: SecretStore, timeout: float = DEFAULT_TIMEOUT_S
) -> DeskClient:
    """The client for this host's desk, or ``NotEnrolled`` with what to do."""
    token = secrets.get(TOKEN_SECRET) if settings.desk_url else None
    if not settings.desk_url or not token:
        raise NotEnrolled(
            "This host is not enrolled with a support desk; run "
            "`vxassist enroll --desk URL --code CODE` with the code from support.",
            detail=f"desk_url={settings.desk_url!r} token={'yes' if token else 'no'}",
        )
    return DeskClient(settings.desk_url, token, timeout=timeout)


def make_sender(
    paths: Paths,
    settings: Settings,
    secrets: SecretStore,
    clock: Callable[[], datetime] = utc_now,
) -> OutboxSender:
    """The outbox sender: this host's desk, then e-mail, then a file."""
    client: DeskClient | None = None
    try:
        client = desk_client(settings, secrets)
    except NotEnrolled as exc:
        log.info("outbox without desk: %s", exc.detail)
    password = secrets.get(SMTP_SECRET) if settings.smtp.username else None
    return OutboxSender(
        open_store(paths),
        client,
        MailFallback(settings, unsent_dir(paths), password),
        RetryPolicy(window_s=settings.outbox_retry_window_s),
        clock=clock,
        no_desk_reason="this host is not enrolled with a support desk (see `vxassist enroll`)",
    )


def estimate_due(priority: int, received_at: datetime) -> datetime | None:
    """The agent's own response deadline estimate (the desk's answer wins)."""
    try:
        from vxassist.cases.sla import SupportCalendar, response_due
    except ImportError:  # pragma: no cover - sla ships with the package
        return None
    return response_due(priority, received_at, SupportCalendar())


def support_tz() -> str:
    try:
        from vxassist.cases.sla import SupportCalendar
    except ImportError:  # pragma: no cover
        return "America/Los_Angeles"
    return SupportCalendar().tz


@dataclass(frozen=True)
class Submission:
    item: OutboxItem
    estimate: datetime | None

    @property
    def answer(self) -> dict[str, Any] | None:
        return self.item.answer


def submit_case(
    paths: Paths,
    settings: Settings,
    secrets: SecretStore,
    request: CaseRequest,
    clock: Callable[[], datetime] = utc_now,
    timeout: float = SUBMIT_TIMEOUT_S,
) -> Submission:
    """Write ``request`` to the outbox, then try once to deliver it."""
    store = open_store(paths)
    now = clock()
    item = store.add(Kind.CASE, "POST", f"{API}/cases", request.payload(), now)
    log.info("case request queued as outbox item %s", item.id)
    item = _first_attempt(paths, settings, secrets, item, clock, timeout)
    return Submission(item, estimate_due(request.priority, now))


def _first_attempt(
    paths: Paths,
    settings: Settings,
    secrets: SecretStore,
    item: OutboxItem,
    clock: Callable[[], datetime],
    timeout: float,
) -> OutboxItem:
    """One try at a newly queued item; a broken secret store still leaves it queued."""
    try:
        sender = make_sender(paths, settings, secrets, clock)
    except SecretsError as exc:
        raise CaseError(
            f"{exc.message} Your request is kept in the outbox as item {item.id} and is "
            "sent once this is fixed (`vxassist outbox --flush`).",
            detail=exc.detail,
        ) from exc
    with sender:
        return sender.attempt(item, timeout=timeout)


#: how many log files one update carries (the desk takes no more)
MAX_LOGS = 5


class LogFileError(CaseError):
    """A log file chosen for an update cannot be read, or too many were chosen."""


def read_logs(names: Sequence[str | Path]) -> list[tuple[str, bytes]]:
    """Each named file's text with secrets removed (as the system report's), to send.

    Blocking (reads files): run it on a thread.
    """
    from vxassist.redact import scrub_config

    if len(names) > MAX_LOGS:
        raise LogFileError(f"An update carries at most {MAX_LOGS} files; send the rest in another.")
    logs = []
    for name in names:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LogFileError(
                f"{path} cannot be read ({exc.strerror or exc}); check the file name.",
                detail=repr(exc),
            ) from exc
        text = data.decode("utf-8", errors="replace").replace("\x00", "")
        logs.append((path.name, scrub_config(text)[0].encode("utf-8")))
    return logs


def submit_update(
    paths: Paths,
    settings: Settings,
    secrets: SecretStore,
    number: int,
    text: str,
    priority: int | None,
    clock: Callable[[], datetime] = utc_now,
    timeout: float = SUBMIT_TIMEOUT_S,
    system_report: Mapping[str, Any] | None = None,
    logs: Sequence[tuple[str, bytes]] = (),
) -> OutboxItem:
    """An update to case ``number`` through the outbox (so it is never lost).

    ``system_report`` (already redacted, as for a new case) and ``logs`` (name and
    scrubbed bytes) go with it; the outbox item's key makes a retry replay the
    desk's answer, never a second update.
    """
    store = open_store(paths)
    item = store.add(
        Kind.UPDATE,
        "POST",
        f"{API}/cases/{int(number)}/updates",
        update_body(text, priority, system_report, logs),
        clock(),
    )
    return _first_attempt(paths, settings, secrets, item, clock, timeout)
