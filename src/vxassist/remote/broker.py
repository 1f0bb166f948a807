"""The agent's side of the session broker: desk requests in, decisions and sessions out.

:class:`SessionBroker` long-polls the desk for session requests and revocations.
Each new request is audited, screened against local policy (refused on its own
when it is not about a case this host opened, asks for what policy forbids, or
nobody can answer), shown to the customer through the :class:`Prompter` (no
answer in time = deny), audited again with the answer, and reported to the desk.
An approval becomes a grant: the session service opens the reverse tunnel
before the decision is reported, so an engineer told "approved" can connect at
once. Revocations end the session; every end is reported to the desk with the
session summary. An engineer's request for more minutes on a live session is
screened the same way (:func:`~vxassist.remote.grants.screen_extension`), asked
of the customer (``Prompter.ask_extension``; a prompter without it refuses),
and on approval the live grant gets its later end before the answer goes to
the desk, which then signs the engineer's key for the new window. A desk that
is down is retried with backoff; one bad request never stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from vxassist.deskclient import DeskClient, DeskRejected, DeskUnavailable
from vxassist.errors import VxError
from vxassist.remote.grants import (
    ConsentDecision,
    ExtensionRequest,
    Grant,
    Refusal,
    SessionRequest,
    make_grant,
    parse_scopes,
    screen_extension,
    screen_request,
)
from vxassist.settings import RemotePolicy

log = logging.getLogger(__name__)
T = TypeVar("T")

API = "/api/v1"
#: seconds the desk may hold a long poll open: long, since a waiting poll costs the desk
#: nothing and each answer costs it a request (10,000 idle hosts: ~20 answers a second)
POLL_WAIT_S = 540
#: extra seconds the HTTP client waits beyond the long poll before giving up
POLL_SLACK_S = 10
REQUEST_TIMEOUT_S = 15.0
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0


class Prompter(Protocol):
    """Who answers a session request on this host (see :mod:`vxassist.remote.consent`)."""

    @property
    def can_prompt(self) -> bool: ...

    async def ask(self, req: SessionRequest, timeout_s: float) -> ConsentDecision: ...

    async def ask_extension(
        self, grant: Grant, minutes: int, reason: str, timeout_s: float
    ) -> int | None: ...


class SessionService(Protocol):
    """What the broker needs of the remote session service."""

    async def start(self, grant: Grant, relay: Any) -> None: ...

    def live_grant(self, session_id: str, now: datetime) -> Grant | None: ...

    def extend(
        self, session_id: str, not_after: datetime, event: str = ..., **fields: Any
    ) -> Grant: ...

    async def end(self, session_id: str, reason: str) -> dict[str, Any]: ...

    def active(self) -> list[Grant]: ...


class Audit(Protocol):
    def append(self, event: str, **fields: Any) -> dict[str, Any]: ...


class BrokerError(VxError):
    """The desk sent something the broker cannot use."""


EventSink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Revocation:
    session_id: str
    reason: str


def parse_request(raw: Mapping[str, Any], now: datetime) -> SessionRequest:
    """A desk session request as a :class:`SessionRequest`; raises :class:`BrokerError`."""
    try:
        received = raw.get("received_at")
        received_at = datetime.fromisoformat(str(received)) if received else now
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=now.tzinfo)
        scopes_raw = raw.get("scopes") or []
        if not isinstance(scopes_raw, list):
            raise TypeError("scopes is not a list")
        return SessionRequest(
            session_id=str(raw["session_id"]),
            engineer=str(raw["engineer"]),
            case_number=int(raw["case_number"]),
            case_brief=str(raw.get("case_brief") or ""),
            scopes=parse_scopes(str(s) for s in scopes_raw),
            minutes=int(raw["minutes"]),
            reason=str(raw.get("reason") or ""),
            verification_code=str(raw.get("verification_code") or ""),
            key_fingerprint=str(raw.get("key_fingerprint") or ""),
            received_at=received_at,
        )
    except VxError as exc:
        raise BrokerError(
            "The desk sent a session request this agent cannot read; it was refused.",
            detail=f"{exc.message} in {dict(raw)!r}",
        ) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise BrokerError(
            "The desk sent a session request this agent cannot read; it was refused.",
            detail=f"{exc!r} in {dict(raw)!r}",
        ) from exc


def parse_extension(raw: Mapping[str, Any], now: datetime) -> ExtensionRequest:
    """A desk extension request as an :class:`ExtensionRequest`; raises :class:`BrokerError`."""
    try:
        received = raw.get("received_at")
        received_at = datetime.fromisoformat(str(received)) if received else now
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=now.tzinfo)
        number = int(raw["number"])
        if number < 1:
            raise ValueError("extension number below 1")
        return ExtensionRequest(
            session_id=str(raw["session_id"]),
            number=number,
            engineer=str(raw["engineer"]),
            minutes=int(raw["minutes"]),
            reason=str(raw.get("reason") or ""),
            received_at=received_at,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BrokerError(
            "The desk sent an extension request this agent cannot read; it was refused.",
            detail=f"{exc!r} in {dict(raw)!r}",
        ) from exc


def parse_revocations(raw: Any) -> list[Revocation]:
    if not isinstance(raw, list):
        return []
    out = []
    for item in raw:
        if isinstance(item, Mapping) and item.get("session_id"):
            out.append(Revocation(str(item["session_id"]), str(item.get("reason") or "revoked")))
    return out


async def in_daemon_thread(work: Callable[[], T]) -> T:
    """Run blocking ``work`` on a daemon thread and await its result.

    Unlike ``asyncio.to_thread``, a call still waiting when the agent stops (a
    long poll the desk holds open) does not hold the process: the loop's
    executor would be joined at exit, a daemon thread is not.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the awaiting task, not swallowed
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                loop.call_soon_threadsafe(deliver, future.set_exception, exc)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, future.set_result, result)

    threading.Thread(target=run, name="vxassist-desk-call", daemon=True).start()
    return await future


def _number(value: Any) -> int:
    """An extension number from the desk; 0 when it is not one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def next_backoff(previous: float) -> float:
    """Doubling delay between desk retries, capped."""
    return min(BACKOFF_MAX_S, max(BACKOFF_FIRST_S, previous * 2))


def jittered(delay: float, rand: Callable[[], float] = random.random) -> float:
    """``delay`` spread over its upper half: a fleet that lost the desk at one moment
    (a desk restart) comes back spread out, not all in the same second."""
    return delay * (0.5 + 0.5 * rand())


def retry_delay(
    exc: DeskUnavailable, previous: float, rand: Callable[[], float] = random.random
) -> tuple[float, float]:
    """(the next backoff step, the pause to take now) after ``exc``: the desk's
    ``Retry-After`` is a floor, spread above it; else the doubling step, jittered."""
    if exc.retry_after:
        return exc.retry_after, exc.retry_after * (1.0 + 0.5 * rand())
    step = next_backoff(previous)
    return step, jittered(step, rand)


class SessionBroker:
    """Turns the desk's session requests into prompts, grants and sessions.

    ``max_grant_s`` shortens every grant to that many seconds (tests only).
    ``own_cases`` returns the case numbers this host filed; it may block (it
    asks the desk) and is run in a thread, once per request. ``relay`` returns
    the relay endpoint of this host's enrollment. ``on_event`` receives one
    plain dict per thing a person at the host would want to know.
    """

    def __init__(
        self,
        desk: DeskClient,
        prompter: Prompter,
        policy: RemotePolicy,
        service: SessionService,
        audit: Audit,
        own_cases: Callable[[], frozenset[int]],
        clock: Callable[[], datetime],
        *,
        relay: Callable[[], Any],
        on_event: EventSink | None = None,
        poll_wait_s: int = POLL_WAIT_S,
        max_grant_s: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_case_cursor: Callable[[int], None] | None = None,
    ) -> None:
        self._desk = desk
        self._prompter = prompter
        self._policy = policy
        self._service = service
        self._audit = audit
        self._own_cases = own_cases
        self._clock = clock
        self._relay = relay
        self._on_event = on_event
        self._poll_wait_s = poll_wait_s
        self._max_grant_s = max_grant_s
        self._sleep = sleep
        self._on_case_cursor = on_case_cursor
        self._case_cursor: int | None = None
        #: session ids seen in a poll (handled or being handled): never prompt twice
        self._seen: set[str] = set()
        #: session ids whose end was reported (or is being reported) to the desk
        self._reported_end: set[str] = set()
        #: approved sessions we started and have not seen end yet
        self._live: dict[str, Grant] = {}
        #: sessions the broker itself is ending (their service event is not reported twice)
        self._ending: set[str] = set()
        #: handlers waiting on the prompt, by session id (cancelled if withdrawn)
        self._prompting: dict[str, asyncio.Task[Any]] = {}
        #: extensions seen in a poll, and those waiting on the prompt, by (session, number)
        self._seen_extensions: set[tuple[str, int]] = set()
        self._prompting_extensions: dict[tuple[str, int], asyncio.Task[Any]] = {}
        self._prompt_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._desk_down = False

    # -- events ----------------------------------------------------------

    def _emit(self, kind: str, **fields: Any) -> None:
        event = {"event": kind, "at": self._clock().isoformat(), **fields}
        log.info("broker event %s %s", kind, fields.get("session_id", ""))
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a display hook must never stop the broker
                log.exception("event sink failed on %s", kind)

    # -- desk calls ------------------------------------------------------

    async def _call(
        self, method: str, path: str, json: Any = None, timeout_s: float = REQUEST_TIMEOUT_S
    ) -> dict[str, Any]:
        return await in_daemon_thread(
            lambda: self._desk.request(method, path, json=json, timeout=timeout_s)
        )

    async def _call_with_retry(self, method: str, path: str, json: Any, attempts: int = 5) -> None:
        """Send a report the desk must get; retry while it is unavailable."""
        delay = 0.0
        for attempt in range(attempts):
            try:
                await self._call(method, path, json)
                return
            except DeskUnavailable as exc:
                delay, pause = retry_delay(exc, delay)
                log.warning(
                    "desk unavailable for %s %s (try %d): %s", method, path, attempt + 1, exc.detail
                )
                if attempt + 1 < attempts:
                    await self._sleep(pause)
        raise DeskUnavailable(
            "The desk did not take the session report; it will be lost unless the desk comes back.",
            detail=f"{method} {path}",
        )

    # -- the loop ----------------------------------------------------------

    async def run(self) -> None:
        """Report what an earlier, killed run left live; then poll the desk until cancelled."""
        self._report_leftovers()
        delay = 0.0
        while True:
            # the first poll says "none seen" (0): a host with case news is answered at
            # once with the desk's cursor, not at the end of the wait
            cursor = f"&cursor={self._case_cursor or 0}"
            try:
                answer = await self._call(
                    "GET",
                    f"{API}/agent/session-requests?wait={self._poll_wait_s}{cursor}",
                    timeout_s=self._poll_wait_s + POLL_SLACK_S,
                )
            except DeskUnavailable as exc:
                delay, pause = retry_delay(exc, delay)
                if not self._desk_down:
                    self._desk_down = True
                    self._emit("desk_unavailable", message=exc.message, retry_in=pause)
                log.warning("desk unavailable, retrying in %.0f s: %s", pause, exc.detail)
                await self._sleep(pause)
                continue
            except DeskRejected as exc:
                # a bad token or a removed enrollment: keep trying slowly, say why
                delay = BACKOFF_MAX_S
                self._emit("desk_rejected", message=exc.message, code=exc.code)
                await self._sleep(delay)
                continue
            if self._desk_down:
                self._desk_down = False
                self._emit("desk_available")
            delay = 0.0
            self._note_cursor(answer.get("case_cursor"))
            self.dispatch(answer)
            # give spawned handlers a turn before the next long poll
            await asyncio.sleep(0)

    def _note_cursor(self, value: Any) -> None:
        """The desk's newest customer-visible case event of this host: when it moved,
        the host's cases changed (a reply, a status) and ``on_case_cursor`` looks."""
        if isinstance(value, bool) or not isinstance(value, int):
            return  # a desk that does not say: the runtime checks on its own schedule
        before, self._case_cursor = self._case_cursor, value
        # the first cursor too: the runtime compares it with what its own look read
        if value != before and self._on_case_cursor is not None:
            try:
                self._on_case_cursor(value)
            except Exception:  # a hook must never stop the broker
                log.exception("case cursor hook failed")

    @property
    def case_cursor(self) -> int | None:
        """The last case cursor the desk gave (None: not yet, or a desk without one)."""
        return self._case_cursor

    def _report_leftovers(self) -> None:
        """Sessions the service found live from a run that never ended them: report them."""
        take = getattr(self._service, "take_leftovers", None)  # optional on a service
        if take is None:
            return
        for summary in take():
            session_id = str(summary.get("session_id", ""))
            reason = str(summary.get("end_reason") or "the agent stopped unexpectedly")
            self._reported_end.add(session_id)
            self._spawn(self._report_leftover(session_id, reason, summary))

    async def _report_leftover(
        self, session_id: str, reason: str, summary: Mapping[str, Any]
    ) -> None:
        """Report one such end; the service forgets it only once the desk has it."""
        self._emit("session_end", session_id=session_id, reason=reason)
        body = {"reason": reason, "summary": dict(summary)}
        try:
            await self._call_with_retry("POST", f"{API}/agent/sessions/{session_id}/ended", body)
        except DeskUnavailable as exc:  # offered again at the next start
            self._emit("report_undelivered", session_id=session_id, message=exc.message)
            return
        except DeskRejected as exc:  # e.g. already ended or unknown there: nothing to keep
            log.warning("desk refused the end report of %s: %s", session_id, exc.detail)
        reported = getattr(self._service, "leftover_reported", None)
        if reported is not None:
            reported(session_id)

    def dispatch(self, answer: Mapping[str, Any]) -> None:
        """Start a handler for every new request and revocation in one poll answer.

        A request being prompted that the desk no longer lists as pending (the
        engineer withdrew it, or it expired) loses its prompt: nobody can approve
        what is no longer asked.
        """
        requests_raw = answer.get("requests")
        if isinstance(requests_raw, list):
            pending = {str(r.get("session_id")) for r in requests_raw if isinstance(r, Mapping)}
            for session_id, task in list(self._prompting.items()):
                if session_id not in pending:
                    self._withdraw(session_id, task)
        for raw in requests_raw if isinstance(requests_raw, list) else []:
            if not isinstance(raw, Mapping):
                continue
            session_id = str(raw.get("session_id", ""))
            if not session_id or session_id in self._seen:
                continue
            self._seen.add(session_id)
            self._spawn(self.handle_request(raw))
        self._dispatch_extensions(answer.get("extensions"))
        for revocation in parse_revocations(answer.get("revoked")):
            if revocation.session_id in self._reported_end:
                continue
            self._reported_end.add(revocation.session_id)
            self._spawn(self.handle_revocation(revocation))

    def _dispatch_extensions(self, raw: Any) -> None:
        """Extension requests of one poll answer; a prompt whose request is gone is voided."""
        if not isinstance(raw, list):
            return  # a desk that does not speak of extensions
        items = [r for r in raw if isinstance(r, Mapping)]
        pending = {(str(r.get("session_id", "")), _number(r.get("number"))) for r in items}
        for key, task in list(self._prompting_extensions.items()):
            if key not in pending:
                self._prompting_extensions.pop(key, None)
                task.cancel()
                reason = "the extension was withdrawn or expired at the desk"
                self._audit.append(
                    "extension_decision",
                    session_id=key[0],
                    number=key[1],
                    approved=False,
                    by="desk",
                    reason=reason,
                )
                self._emit("extension_withdrawn", session_id=key[0], number=key[1], reason=reason)
        for item in items:
            key = (str(item.get("session_id", "")), _number(item.get("number")))
            if not key[0] or key in self._seen_extensions:
                continue
            self._seen_extensions.add(key)
            self._spawn(self.handle_extension(item))

    def _withdraw(self, session_id: str, task: asyncio.Task[Any]) -> None:
        self._prompting.pop(session_id, None)
        task.cancel()
        reason = "the request was withdrawn or expired at the desk"
        self._audit.append(
            "decision", session_id=session_id, approved=False, by="desk", reason=reason
        )
        self._emit("withdrawn", session_id=session_id, reason=reason)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad request never stops the broker
                log.exception("session broker handler failed")

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait for every handler started so far (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- one request -------------------------------------------------------

    async def handle_request(self, raw: Mapping[str, Any]) -> None:
        """Screen, prompt, decide, report, and on approval start the session."""
        now = self._clock()
        session_id = str(raw.get("session_id", ""))
        try:
            req = parse_request(raw, now)
        except BrokerError as exc:
            self._audit.append("request", session_id=session_id, raw=dict(raw))
            self._audit.append(
                "decision", session_id=session_id, approved=False, by="agent", reason=exc.message
            )
            self._emit("refused", session_id=session_id, reason=exc.message)
            await self._report_decision(session_id, False, (), None, None, exc.message)
            return
        self._audit.append(
            "request",
            session_id=req.session_id,
            engineer=req.engineer,
            case_number=req.case_number,
            scopes=[str(s) for s in req.scopes],
            minutes=req.minutes,
            reason=req.reason,
            verification_code=req.verification_code,
            key_fingerprint=req.key_fingerprint,
        )
        self._emit(
            "request",
            session_id=req.session_id,
            engineer=req.engineer,
            case_number=req.case_number,
            scopes=[str(s) for s in req.scopes],
            minutes=req.minutes,
            reason=req.reason,
        )
        try:
            own = await asyncio.to_thread(self._own_cases)
        except VxError as exc:
            # cannot tell whose case it is: no answer means no
            log.warning("own cases unknown: %s", exc.detail)
            own = frozenset()
        screened = screen_request(req, self._policy, own, self._prompter.can_prompt)
        if isinstance(screened, Refusal):
            await self._refuse(req, screened.reason)
            return
        task = asyncio.current_task()
        if task is not None:
            self._prompting[req.session_id] = task
        try:
            decision = await self._ask(screened)
        finally:
            self._prompting.pop(req.session_id, None)
        if not decision.approved:
            self._audit.append(
                "decision",
                session_id=req.session_id,
                approved=False,
                by="customer",
                note=decision.note,
            )
            self._emit("decision", session_id=req.session_id, approved=False, note=decision.note)
            await self._report_decision(req.session_id, False, (), None, None, decision.note)
            return
        try:
            grant = make_grant(screened, decision, self._clock())
        except VxError as exc:
            await self._refuse(req, exc.message)
            return
        if self._max_grant_s is not None:
            cap = grant.not_before + timedelta(seconds=self._max_grant_s)
            grant = replace(grant, not_after=min(grant.not_after, cap))
        self._audit.append(
            "decision",
            session_id=grant.session_id,
            approved=True,
            by="customer",
            scopes=[str(s) for s in grant.scopes],
            not_before=grant.not_before.isoformat(),
            not_after=grant.not_after.isoformat(),
            note=decision.note,
        )
        self._emit(
            "decision",
            session_id=grant.session_id,
            approved=True,
            scopes=[str(s) for s in grant.scopes],
            not_after=grant.not_after.isoformat(),
        )
        await self._start(grant, decision.note)

    async def _refuse(self, req: SessionRequest, reason: str) -> None:
        self._audit.append(
            "decision", session_id=req.session_id, approved=False, by="agent", reason=reason
        )
        self._emit("refused", session_id=req.session_id, reason=reason)
        await self._report_decision(req.session_id, False, (), None, None, reason)

    async def _ask(self, req: SessionRequest) -> ConsentDecision:
        timeout = float(self._policy.consent_timeout_s)
        async with self._prompt_lock:
            self._audit.append(
                "prompt",
                session_id=req.session_id,
                scopes=[str(s) for s in req.scopes],
                minutes=req.minutes,
                timeout_s=timeout,
            )
            self._emit("prompt", session_id=req.session_id, timeout_s=timeout)
            try:
                # the prompter enforces the timeout; this bound only guards a broken one
                return await asyncio.wait_for(self._prompter.ask(req, timeout), timeout=timeout + 5)
            except TimeoutError:
                return ConsentDecision.deny("no answer in time")
            except VxError as exc:
                log.warning("prompt failed: %s", exc.detail or exc.message)
                return ConsentDecision.deny("the prompt could not be shown")

    async def _report_decision(
        self,
        session_id: str,
        approved: bool,
        scopes: tuple[Any, ...],
        not_before: datetime | None,
        not_after: datetime | None,
        note: str,
    ) -> dict[str, Any] | None:
        body = {
            "approved": approved,
            "scopes": [str(s) for s in scopes],
            "not_before": not_before.isoformat() if not_before else None,
            "not_after": not_after.isoformat() if not_after else None,
            "note": note,
        }
        path = f"{API}/agent/session-requests/{session_id}/decision"
        return await self._deliver(path, body, session_id)

    async def _deliver(
        self, path: str, body: dict[str, Any], session_id: str
    ) -> dict[str, Any] | None:
        """POST a decision the desk must get; retried while it is unavailable."""
        delay = 0.0
        for _attempt in range(5):
            try:
                return await self._call("POST", path, body)
            except DeskUnavailable as exc:
                delay, pause = retry_delay(exc, delay)
                log.warning("decision not delivered, retrying: %s", exc.detail)
                await self._sleep(pause)
            except DeskRejected as exc:
                # e.g. the request expired or was withdrawn meanwhile
                log.warning("desk refused the decision on %s: %s", session_id, exc.detail)
                self._emit("decision_rejected", session_id=session_id, message=exc.message)
                return None
        self._emit("decision_undelivered", session_id=session_id)
        return None

    async def _start(self, grant: Grant, note: str) -> None:
        """Open the tunnel, then tell the desk; undo either if the other fails."""
        try:
            relay = self._relay()
            await self._service.start(grant, relay)
        except VxError as exc:
            reason = f"the session could not start: {exc.message}"
            log.warning("session %s did not start: %s", grant.session_id, exc.detail)
            self._audit.append("session_failed", session_id=grant.session_id, reason=reason)
            self._emit("session_failed", session_id=grant.session_id, reason=exc.message)
            self._reported_end.add(grant.session_id)
            with contextlib.suppress(VxError):
                await self._service.end(grant.session_id, "failed to start")
            await self._report_decision(grant.session_id, False, (), None, None, reason)
            return
        self._live[grant.session_id] = grant
        answer = await self._report_decision(
            grant.session_id, True, grant.scopes, grant.not_before, grant.not_after, note
        )
        if answer is None:
            # the desk did not take the approval: no certificate exists; close the door
            await self.end_session(grant.session_id, "the desk did not accept the approval")
            return
        self._emit(
            "session_open",
            session_id=grant.session_id,
            engineer=grant.engineer,
            case_number=grant.case_number,
            scopes=[str(s) for s in grant.scopes],
            not_after=grant.not_after.isoformat(),
        )

    # -- extensions ------------------------------------------------------------

    async def handle_extension(self, raw: Mapping[str, Any]) -> None:
        """Screen, prompt, and on approval give the live session its later end, then
        report the answer (the desk signs the key again for the new window)."""
        now = self._clock()
        session_id, number = str(raw.get("session_id", "")), _number(raw.get("number"))
        try:
            req = parse_extension(raw, now)
        except BrokerError as exc:
            self._audit.append("extension_requested", session_id=session_id, raw=dict(raw))
            await self._refuse_extension(session_id, number, exc.message)
            return
        self._audit.append(
            "extension_requested",
            session_id=req.session_id,
            number=req.number,
            engineer=req.engineer,
            minutes=req.minutes,
            reason=req.reason,
        )
        self._emit(
            "extension_request",
            session_id=req.session_id,
            number=req.number,
            engineer=req.engineer,
            minutes=req.minutes,
            reason=req.reason,
        )
        grant = self._service.live_grant(req.session_id, now)
        screened = screen_extension(req, grant, self._policy, self._prompter.can_prompt, now)
        if isinstance(screened, Refusal):
            await self._refuse_extension(req.session_id, req.number, screened.reason)
            return
        assert grant is not None
        key = (req.session_id, req.number)
        task = asyncio.current_task()
        if task is not None:
            self._prompting_extensions[key] = task
        try:
            approved = await self._ask_extension(grant, screened)
        finally:
            self._prompting_extensions.pop(key, None)
        if approved is None:
            note = "not approved at the host: refused, or no answer in time"
            self._audit.append(
                "extension_decision",
                session_id=req.session_id,
                number=req.number,
                approved=False,
                by="customer",
                note=note,
            )
            self._emit(
                "extension_decision",
                session_id=req.session_id,
                number=req.number,
                approved=False,
                note=note,
            )
            await self._report_extension(req.session_id, req.number, None, note)
            return
        minutes = max(1, min(approved, screened.minutes))
        await self._extend(req, minutes)

    async def _extend(self, req: ExtensionRequest, minutes: int) -> None:
        """Move the live grant's end, then tell the desk; undo the move if the desk refuses."""
        now = self._clock()
        current = self._service.live_grant(req.session_id, now)
        if current is None:
            await self._refuse_extension(
                req.session_id, req.number, "the session ended before the answer"
            )
            return
        # screened again against the grant as it is now, not as it was when asked:
        # the host's cap holds even if two extensions were answered one after the other
        again = screen_extension(replace(req, minutes=minutes), current, self._policy, True, now)
        if isinstance(again, Refusal):
            await self._refuse_extension(req.session_id, req.number, again.reason)
            return
        minutes = again.minutes
        added = timedelta(minutes=minutes)
        if self._max_grant_s is not None:
            added = min(added, timedelta(seconds=self._max_grant_s))
        previous = current.not_after
        not_after = previous + added
        self._audit.append(
            "extension_decision",
            session_id=req.session_id,
            number=req.number,
            approved=True,
            by="customer",
            minutes=minutes,
            previous_not_after=previous.isoformat(),
            not_after=not_after.isoformat(),
        )
        self._emit(
            "extension_decision",
            session_id=req.session_id,
            number=req.number,
            approved=True,
            minutes=minutes,
            not_after=not_after.isoformat(),
        )
        try:
            grant = self._service.extend(
                req.session_id, not_after, number=req.number, minutes=minutes
            )
        except VxError as exc:
            # ended between the answer and now: the approval cannot be carried out
            await self._refuse_extension(req.session_id, req.number, exc.message)
            return
        if req.session_id in self._live:
            self._live[req.session_id] = grant
        answer = await self._report_extension(
            req.session_id, req.number, grant.not_after, "approved by the customer"
        )
        if answer is not None:
            return
        # the desk did not take it: no new certificate exists; the old end stands
        reason = "the desk did not accept the extension"
        if previous > self._clock():
            with contextlib.suppress(VxError):
                restored = self._service.extend(
                    req.session_id, previous, event="extension_undone", reason=reason
                )
                if req.session_id in self._live:
                    self._live[req.session_id] = restored
        else:
            await self.end_session(req.session_id, "the grant's time is up")

    async def _ask_extension(self, grant: Grant, req: ExtensionRequest) -> int | None:
        """The minutes the customer approves, or None; a prompter that cannot ask refuses."""
        ask = getattr(self._prompter, "ask_extension", None)
        timeout = float(self._policy.consent_timeout_s)
        if ask is None:
            return None
        async with self._prompt_lock:
            self._audit.append(
                "prompt",
                session_id=req.session_id,
                extension=req.number,
                minutes=req.minutes,
                timeout_s=timeout,
            )
            self._emit(
                "extension_prompt", session_id=req.session_id, number=req.number, timeout_s=timeout
            )
            # the grant may have moved while this prompt waited its turn
            grant = self._service.live_grant(req.session_id, self._clock()) or grant
            try:
                answer = await asyncio.wait_for(
                    ask(grant, req.minutes, req.reason, timeout), timeout=timeout + 5
                )
            except TimeoutError:
                return None
            except VxError as exc:
                log.warning("extension prompt failed: %s", exc.detail or exc.message)
                return None
        return answer if isinstance(answer, int) and answer > 0 else None

    async def _refuse_extension(self, session_id: str, number: int, reason: str) -> None:
        self._audit.append(
            "extension_decision",
            session_id=session_id,
            number=number,
            approved=False,
            by="agent",
            reason=reason,
        )
        self._emit(
            "extension_decision", session_id=session_id, number=number, approved=False, note=reason
        )
        if number > 0:
            await self._report_extension(session_id, number, None, reason)

    async def _report_extension(
        self, session_id: str, number: int, not_after: datetime | None, note: str
    ) -> dict[str, Any] | None:
        body = {
            "approved": not_after is not None,
            "not_after": not_after.isoformat() if not_after else None,
            "note": note,
        }
        path = f"{API}/agent/sessions/{session_id}/extensions/{number}/decision"
        return await self._deliver(path, body, session_id)

    # -- ends ----------------------------------------------------------------

    async def handle_revocation(self, revocation: Revocation) -> None:
        self._audit.append("revoke", session_id=revocation.session_id, reason=revocation.reason)
        self._emit("revoked", session_id=revocation.session_id, reason=revocation.reason)
        await self._end_and_report(revocation.session_id, "revoked", force_report=True)

    async def end_session(self, session_id: str, reason: str) -> None:
        """End a session on this host (End now, agent stop) and report it."""
        await self._end_and_report(session_id, reason)

    async def _end_and_report(
        self, session_id: str, reason: str, force_report: bool = False
    ) -> None:
        summary = await self._end_quietly(session_id, reason)
        await self.session_ended(session_id, reason, summary, force_report=force_report)

    async def _end_quietly(self, session_id: str, reason: str) -> dict[str, Any]:
        """Close the session on this host; its summary, or {} if it was not running."""
        self._ending.add(session_id)
        try:
            return dict(await self._service.end(session_id, reason) or {})
        except VxError as exc:
            log.info("ending %s: %s", session_id, exc.detail or exc.message)
            return {}

    async def session_ended(
        self,
        session_id: str,
        reason: str,
        summary: Mapping[str, Any] | None,
        force_report: bool = False,
    ) -> None:
        """Report a session's end (with its summary) to the desk, once."""
        was_live = self._live.pop(session_id, None) is not None
        if not was_live and not force_report:
            return
        self._reported_end.add(session_id)
        self._emit("session_end", session_id=session_id, reason=reason)
        body = {"reason": reason, "summary": dict(summary or {})}
        try:
            await self._call_with_retry("POST", f"{API}/agent/sessions/{session_id}/ended", body)
        except DeskUnavailable as exc:
            self._emit("report_undelivered", session_id=session_id, message=exc.message)
        except DeskRejected as exc:
            log.warning("desk refused the end report of %s: %s", session_id, exc.detail)

    def on_service_event(self, event: Mapping[str, Any]) -> None:
        """Hook for the session service's events: report ends it decided on its own."""
        kind = str(event.get("event") or event.get("kind") or "")
        if kind not in {"teardown", "session_ended"}:
            return
        session_id = str(event.get("session_id", ""))
        if session_id not in self._live or session_id in self._ending:
            return
        summary = event.get("summary")
        self._spawn(
            self.session_ended(
                session_id,
                str(event.get("reason") or "ended"),
                summary if isinstance(summary, Mapping) else None,
            )
        )

    def live_grants(self) -> list[Grant]:
        return list(self._live.values())

    async def close(self, report_timeout_s: float = 3.0) -> None:
        """End every live session ("agent stopped") at once, then report the ends.

        Sessions close first and together, so stopping the agent never waits on
        the desk; reports get ``report_timeout_s`` in all.
        """
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        live = list(self._live)
        summaries = await asyncio.gather(*(self._end_quietly(sid, "agent stopped") for sid in live))
        reports = [
            self._report_end_once(sid, "agent stopped", summary)
            for sid, summary in zip(live, summaries, strict=True)
        ]
        try:
            async with asyncio.timeout(report_timeout_s):
                await asyncio.gather(*reports, return_exceptions=True)
        except TimeoutError:
            log.warning("session end reports not delivered before the agent stopped")

    async def _report_end_once(
        self, session_id: str, reason: str, summary: Mapping[str, Any]
    ) -> None:
        self._live.pop(session_id, None)
        self._reported_end.add(session_id)
        self._emit("session_end", session_id=session_id, reason=reason)
        with contextlib.suppress(VxError):
            await self._call(
                "POST",
                f"{API}/agent/sessions/{session_id}/ended",
                {"reason": reason, "summary": dict(summary)},
                timeout_s=2.0,
            )
