"""The desk's mail sender: the outbox's rows to the SMTP server, each once.

:class:`MailSender` runs in the desk's lifespan. A round (:meth:`MailSender.send_due`,
in a worker thread, never on a request):

0. **write new-case notices**: intake writes no mail (it is the desk's hot path); a
   case that owes the engineers' notice is stored with ``new_notice_at`` NULL. The
   sender renders the notices of a batch of such cases, then in one transaction
   stamps them (``UPDATE ... WHERE new_notice_at IS NULL``: each case once, whatever
   the number of senders) and writes their mails, already claimed by itself. A case
   committed while no sender ran (a crash, a restart) is found by the next round;
1. **claim** due rows (``sent_at IS NULL AND next_attempt_at <= now``) in one short
   writing transaction: their ``next_attempt_at`` moves a lease ahead and
   ``attempts`` counts the try. On PostgreSQL the rows are picked ``FOR UPDATE SKIP
   LOCKED``, so several desk processes each claim different rows; on SQLite the
   transaction is ``BEGIN IMMEDIATE`` (one writer at a time);
2. **send** them over one SMTP connection, outside any transaction;
3. **mark** each: ``sent_at`` when the server took it, or the error and the next
   attempt after an exponential backoff (capped). A recipient the server refuses
   for good (5xx) is kept with its error and not tried again. Rows are never deleted.

A row (or a case owing its notice) written in this process wakes the sender as soon
as its transaction commits (:func:`vxassist.desk.notify.add_waker`); it then waits
for a pause in the writes (a burst of cases is taken in first and mailed after); a
slow timer picks up retries and what other processes wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select, update

from vxassist.desk import notify
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database
from vxassist.desk.mailconfig import MailConfig
from vxassist.desk.models import Case, MailOutbox, table

_OUTBOX = table(MailOutbox)
_CASES = table(Case)
#: what a claim gives the sender of each row
_RETURNED = (
    _OUTBOX.c.id,
    _OUTBOX.c.key,
    _OUTBOX.c.to_addr,
    _OUTBOX.c.subject,
    _OUTBOX.c.body,
    _OUTBOX.c.attempts,
)

log = logging.getLogger(__name__)

#: how long a claimed row is left to the process that claimed it before another may retry
LEASE = timedelta(minutes=5)
#: a row refused for good is parked this far ahead (never deleted, never retried)
NEVER = datetime(9999, 1, 1, tzinfo=UTC)
BATCH = 50
#: after a wake, wait for this long a pause in new rows: a burst of cases is written
#: first and mailed after, instead of the sender taking CPU from the burst's requests
DEBOUNCE_S = 0.5
#: ... but never longer than this after the first wake (a desk that is always busy)
MAX_DELAY_S = 10.0


@dataclass(frozen=True)
class Claimed:
    id: int
    key: str
    to_addr: str
    subject: str
    body: str
    attempts: int


@dataclass(frozen=True)
class Outcome:
    id: int
    error: str | None = None
    permanent: bool = False


def backoff(attempts: int, config: MailConfig) -> timedelta:
    """The wait after the ``attempts``-th failed try: doubling from the base, capped."""
    exponent = max(0, min(attempts - 1, 30))
    return timedelta(seconds=min(config.retry_cap_s, config.retry_base_s * 2**exponent))


def claim(db: Database, now: datetime, limit: int = BATCH) -> list[Claimed]:
    """Take up to ``limit`` due rows for this process (see the module's docstring)."""
    due = (
        select(_OUTBOX.c.id)
        .where(_OUTBOX.c.sent_at.is_(None), _OUTBOX.c.next_attempt_at <= now)
        .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=now + LEASE, attempts=_OUTBOX.c.attempts + 1)
        .returning(*_RETURNED)
    )
    with db.writing_connection() as conn:
        rows = conn.execute(statement).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


#: what the engineers' notice of a new case is written from
_NOTICE_FACTS = (
    "id",
    "case_number",
    "reference",
    "status",
    "priority",
    "received_at",
    "response_due",
    "first_response_at",
    "company",
    "location",
    "contact_name",
    "contact_phone",
    "contact_email",
    "brief",
    "details",
)


def owed_notices(
    db: Database, config: DeskConfig, now: datetime, limit: int = BATCH
) -> dict[int, list[notify.Mail]]:
    """The engineers' notices owed by up to ``limit`` committed cases (``new_notice_at``
    NULL), rendered as of ``now`` and keyed by case id; read, not yet written."""
    columns = [_CASES.c[name] for name in _NOTICE_FACTS]
    owed = select(*columns).where(_CASES.c.new_notice_at.is_(None)).order_by(_CASES.c.id)
    with db.reading() as session:
        cases = session.execute(owed.limit(limit)).all()
    return {case.id: notify.new_case_mails(case, config, now) for case in cases}


def write_notices(
    db: Database, owed: dict[int, list[notify.Mail]], now: datetime, *, leased: bool = True
) -> tuple[int, list[Claimed]]:
    """Stamp the cases of ``owed`` and write their mails, in one transaction; how many
    cases this call stamped, and the mails it wrote. With ``leased`` the mails are
    written already claimed by this process (sent by the caller, or by anyone after
    the lease), else due now.

    The guarded ``UPDATE cases SET new_notice_at = now WHERE ... new_notice_at IS
    NULL`` says which cases are this transaction's (on PostgreSQL ``FOR UPDATE SKIP
    LOCKED``: a case another sender is stamping is left to it, and found again if
    that one rolls back); only their mails are written: each notice once, with its
    stamp, whatever the number of senders.
    """
    if not owed:
        return 0, []
    free = (
        select(_CASES.c.id)
        .where(_CASES.c.id.in_(list(owed)), _CASES.c.new_notice_at.is_(None))
        .with_for_update(skip_locked=True)
    )
    stamp = (
        update(_CASES)
        .where(_CASES.c.id.in_(free.scalar_subquery()))
        .values(new_notice_at=now)
        .returning(_CASES.c.id)
    )
    claimed: list[Claimed] = []
    with db.writing_connection() as conn:
        mine = conn.execute(stamp).scalars().all()
        lease = {"attempts": 1, "next_attempt_at": now + LEASE} if leased else {}
        rows = [
            {**notify.outbox_row(mail, now), **lease}
            for case_id in sorted(mine)
            for mail in owed[case_id]
        ]
        if rows:
            written = conn.execute(notify.insert_once(db.dialect).returning(*_RETURNED), rows)
            claimed = [Claimed(*row) for row in written]
    return len(mine), sorted(claimed, key=lambda c: c.id)


def write_new_case_notices(
    db: Database, config: DeskConfig, now: datetime, limit: int = BATCH, *, leased: bool = True
) -> tuple[int, list[Claimed]]:
    """The notices owed by up to ``limit`` cases, rendered outside any transaction, then
    written (:func:`owed_notices`, :func:`write_notices`)."""
    return write_notices(db, owed_notices(db, config, now, limit), now, leased=leased)


def mark(
    db: Database, claimed: list[Claimed], outcomes: list[Outcome], now: datetime, config: MailConfig
) -> None:
    """Write what became of each claimed row, in one transaction (the sent ones in one
    statement)."""
    attempts = {c.id: c.attempts for c in claimed}
    sent = [outcome.id for outcome in outcomes if outcome.error is None]
    with db.writing_connection() as conn:
        if sent:
            conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id.in_(sent), _OUTBOX.c.sent_at.is_(None))
                .values(sent_at=now, last_error=None)
            )
        for outcome in outcomes:
            if outcome.error is None:
                continue
            later = NEVER if outcome.permanent else now + backoff(attempts[outcome.id], config)
            conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == outcome.id, _OUTBOX.c.sent_at.is_(None))
                .values(next_attempt_at=later, last_error=outcome.error[:2000])
            )


def message(row: Claimed, config: MailConfig, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = config.from_addr
    msg["To"] = row.to_addr
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(now)
    # one id per notification: a receiver that sees a retry again can tell
    digest = hashlib.sha256(row.key.encode()).hexdigest()[:32]
    msg["Message-ID"] = make_msgid(idstring=digest, domain="vxassist.desk")
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row.body)
    return msg


def _connect(config: MailConfig) -> smtplib.SMTP:
    if config.ssl:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            config.smtp_host,
            config.smtp_port,
            timeout=config.timeout_s,
            context=ssl.create_default_context(),
        )
    else:
        smtp = smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=config.timeout_s)
    try:
        smtp.ehlo()
        if config.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if config.user:
            smtp.login(config.user, config.password)
    except BaseException:
        with contextlib.suppress(Exception):
            smtp.close()
        raise
    return smtp


def _refused_for_good(exc: smtplib.SMTPException) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _msg in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError) and bool(
        code and 500 <= code < 600 and code != 552
    )


def deliver(rows: list[Claimed], config: MailConfig, now: datetime) -> list[Outcome]:
    """Send ``rows`` over one connection; an outcome for each (never raises for SMTP)."""
    try:
        smtp = _connect(config)
    except (OSError, smtplib.SMTPException) as exc:
        error = f"cannot reach the SMTP server {config.smtp_host}:{config.smtp_port}: {exc}"
        return [Outcome(r.id, error) for r in rows]
    outcomes: list[Outcome] = []
    try:
        for index, row in enumerate(rows):
            try:
                smtp.send_message(message(row, config, now))
            except smtplib.SMTPServerDisconnected as exc:
                error = f"the SMTP server went away: {exc}"
                outcomes += [Outcome(r.id, error) for r in rows[index:]]
                break
            except (smtplib.SMTPException, ValueError) as exc:
                permanent = isinstance(exc, ValueError) or _refused_for_good(exc)
                outcomes.append(Outcome(row.id, f"{type(exc).__name__}: {exc}", permanent))
            except OSError as exc:
                error = f"the connection to the SMTP server failed: {exc}"
                outcomes += [Outcome(r.id, error) for r in rows[index:]]
                break
            else:
                outcomes.append(Outcome(row.id))
    finally:
        with contextlib.suppress(Exception):
            smtp.quit()
    return outcomes


class MailSender:
    """Sends the outbox; woken by new rows, and every ``config.poll_s`` for retries."""

    def __init__(
        self,
        db: Database,
        config: MailConfig,
        clock: Callable[[], datetime],
        *,
        debounce_s: float = DEBOUNCE_S,
        max_delay_s: float = MAX_DELAY_S,
        desk: DeskConfig | None = None,
        batch: int = BATCH,
    ) -> None:
        self.db = db
        self.config = config
        #: rows claimed (and cases whose notice is written) per SMTP connection
        self.batch = batch
        #: what new-case notices are written with (default: the database's configuration,
        #: :func:`vxassist.desk.notify.configure`)
        self.desk = desk
        self.clock = clock
        self.debounce_s = debounce_s
        self.max_delay_s = max_delay_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        #: one round at a time in this process
        self._round = threading.Lock()
        #: when a row was last written (time.monotonic), and whether the loop waits for one
        self._last_wake = 0.0
        self._idle = False

    # -- one round, blocking (a worker thread; tests may call it directly) -------------

    def _new_case_notices(self, leased: bool = True) -> tuple[int, list[Claimed]]:
        """Write a batch of owed new-case notices (see :func:`write_new_case_notices`)."""
        desk = self.desk or notify.configured(self.db.url)
        if desk is None or not desk.mail.enabled:
            return 0, []
        return write_new_case_notices(self.db, desk, self.clock(), self.batch, leased=leased)

    def send_due(self) -> int:
        """Write the owed new-case notices, claim, send and mark the due rows until none
        is left; how many were sent."""
        sent = 0
        with self._round:
            while True:
                stamped, rows = self._new_case_notices()
                if not rows:
                    rows = claim(self.db, self.clock(), self.batch)
                if not rows:
                    if stamped:
                        continue  # cases whose notice has no recipient: look for more
                    return sent
                outcomes = deliver(rows, self.config, self.clock())
                mark(self.db, rows, outcomes, self.clock(), self.config)
                failed = [o for o in outcomes if o.error is not None]
                sent += len(outcomes) - len(failed)
                if failed:  # one line per round, not one per mail
                    log.warning(
                        "%d mail(s) not sent, retried later with backoff: %s",
                        len(failed),
                        failed[0].error,
                    )
                if failed:
                    # the server is in trouble: the backoff decides the next try; the
                    # notices still owed are written all the same (due, not claimed)
                    while self._new_case_notices(leased=False)[0]:
                        pass
                    return sent

    # -- the service ------------------------------------------------------------------

    def wake(self) -> None:
        """Thread-safe: run a round soon (a row was written). Cheap when called per case:
        the loop is signalled only when the sender is idle."""
        self._last_wake = time.monotonic()
        loop, event = self._loop, self._event
        if not self._idle or loop is None or event is None or loop.is_closed():
            return
        self._idle = False
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(event.set)

    def start(self) -> None:
        """Start sending on the running loop (the desk's lifespan)."""
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        notify.add_waker(self.db.url, self.wake)
        self._task = asyncio.create_task(self._run(), name="vxassist-desk-mailout")
        self._event.set()  # rows left from before the start

    async def stop(self) -> None:
        notify.remove_waker(self.wake)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # a round already in its thread finishes before the database closes
        await asyncio.to_thread(self._round.acquire)
        self._round.release()

    async def _quiet(self) -> None:
        """Wait until no row was written for ``debounce_s`` (a burst of cases is written
        first and mailed after), but no longer than ``max_delay_s``."""
        started = time.monotonic()
        while True:
            now = time.monotonic()
            calm = now - self._last_wake
            left = self.max_delay_s - (now - started)
            if calm >= self.debounce_s or left <= 0:
                return
            await asyncio.sleep(min(self.debounce_s - calm, left))

    async def _run(self) -> None:
        assert self._event is not None
        while True:
            self._idle = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout=self.config.poll_s)
            self._idle = False
            self._event.clear()
            while True:
                await self._quiet()
                began = time.monotonic()
                try:
                    await asyncio.to_thread(self.send_due)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # a database hiccup: the next round tries again
                    log.exception("the mail sender's round failed; retrying later")
                    break
                if self._last_wake < began:
                    break  # nothing was written while this round ran


def warn_if_off(config: MailConfig) -> bool:
    """At start: one warning when notifications are off. True when they are on."""
    if config.enabled:
        return True
    log.warning(
        "E-mail notifications are off: the desk configuration has no [mail] smtp_host "
        "and from; add them to send replies, escalations and deadline notices."
    )
    return False
