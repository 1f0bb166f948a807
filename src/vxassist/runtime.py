"""The agent runtime: the one composition root of the agent, under both faces.

:class:`AgentRuntime` builds and runs the agent's services on one asyncio
loop: the case outbox worker, the session broker and session service (once
the host is enrolled), a system report kept fresh in the background, a
periodic check of this host's cases, and the local control channel
(:mod:`vxassist.control`). ``vxassist agent`` (headless, ``agent_main``) and
the tray (``ui/``) build it with their own :class:`Prompter` and an ``emit``
callback; everything they show arrives there as plain dict events with
``"event"`` and ``"at"`` keys.

Blocking work (the desk, the disk, the system report) runs on daemon threads,
so the loop, and the sessions it carries, never wait on it. Heavy libraries
(asyncssh, requests, psutil) are imported when the runtime first needs them,
so importing this module stays cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from vxassist.cliutil import Context
from vxassist.errors import VxError

if TYPE_CHECKING:
    from vxassist.cases.intake import Submission
    from vxassist.deskclient import DeskClient
    from vxassist.remote.broker import SessionBroker
    from vxassist.remote.consent import Prompter
    from vxassist.remote.grants import Grant
    from vxassist.remote.service import RelayEndpoint, RemoteSessionService
    from vxassist.sysinfo.model import Report

log = logging.getLogger(__name__)
T = TypeVar("T")

Event = dict[str, Any]
Emit = Callable[[Event], None]

#: test-only: cap every grant at this many seconds (end-to-end tests need short grants)
TEST_GRANT_SECONDS_ENV = "VXASSIST_TEST_GRANT_SECONDS"
#: how often a ``time_left`` event is sent for each live session
TIME_LEFT_EVERY_S = 30.0
#: how often the system report is collected again in the background (under the
#: 300 s a form accepts, so a click never waits for a collection)
REPORT_EVERY_S = 240.0
#: how often this host's cases are checked for changes
CASE_CHECK_EVERY_S = 180.0
#: how long ending the sessions' reports to the desk may take when the agent stops
STOP_REPORT_TIMEOUT_S = 2.0
#: the desk's knowledge-base search (a desk without one answers 404)
KB_SEARCH_PATH = "/api/v1/kb/search"
#: a few articles for a brief being typed (an older desk answers 404)
KB_SUGGEST_PATH = "/api/v1/kb/suggest"

#: how a desk without ``GET /api/v1/cases/changes`` answers it (the path reads as a case)
_NO_CHANGES_CALL = frozenset({404, 405, 422})
#: the kinds of case events a remote session writes (``session``, ``session_summary``)
_SESSION_EVENTS = "session"
#: case fields whose change is worth telling the customer about
_CASE_WATCHED = ("status", "priority", "response_due", "escalation", "updated_at", "last_event_at")


def utc_now() -> datetime:
    return datetime.now(UTC)


class AgentNotReady(VxError):
    """The host lacks what remote sessions need (enrollment, relay facts)."""


class AgentAlreadyRunning(VxError):
    """Another agent of this account is running."""


class SessionNotFound(VxError):
    """No live session has the given id."""


def left_text(delta: timedelta) -> str:
    """``m:ss`` of a time left."""
    seconds = max(0, int(delta.total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def relay_endpoint(enrollment: Mapping[str, Any]) -> RelayEndpoint:
    """The relay of this host's enrollment, or :class:`AgentNotReady` saying what to do."""
    from vxassist.remote.service import RelayEndpoint

    relay = enrollment.get("relay")
    if not isinstance(relay, Mapping):
        raise AgentNotReady(
            "This host's enrollment names no relay for remote sessions; enroll again with "
            "`vxassist enroll --desk URL --code CODE` against a desk that offers them.",
        )
    try:
        return RelayEndpoint(
            host=str(relay["host"]),
            port=int(relay["port"]),
            user=str(relay.get("user") or "vxagent"),
            listen_port=int(relay["listen_port"]),
            known_hosts=str(relay.get("known_hosts") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AgentNotReady(
            "This host's enrollment has an unusable relay entry; enroll again.",
            detail=repr(exc),
        ) from exc


def _cursor_of(answer: Mapping[str, Any]) -> int:
    """The ``cursor`` of the desk's changes answer; ``DeskUnavailable`` when it has none."""
    from vxassist.deskclient import DeskUnavailable

    cursor = answer.get("cursor")
    if isinstance(cursor, bool) or not isinstance(cursor, int) or cursor < 0:
        raise DeskUnavailable(
            "The desk's answer about changed cases has no cursor; try again later.",
            detail=f"keys {sorted(answer)[:20]}",
        )
    return cursor


def case_fingerprint(case: Mapping[str, Any]) -> tuple[str, ...]:
    """What of a case, when it differs, counts as a change."""
    return tuple(repr(case.get(key)) for key in _CASE_WATCHED)


def case_changes(
    before: Mapping[int, tuple[str, ...]], cases: list[dict[str, Any]]
) -> tuple[dict[int, tuple[str, ...]], list[dict[str, Any]]]:
    """The new snapshot of ``cases`` and the cases that changed since ``before``."""
    after: dict[int, tuple[str, ...]] = {}
    changed = []
    for case in cases:
        number = case.get("case_number")
        if not isinstance(number, int):
            continue
        after[number] = case_fingerprint(case)
        if before.get(number) != after[number]:
            changed.append(case)
    return after, changed


def case_has_news(case: Mapping[str, Any], since: int, before: tuple[str, ...] | None) -> bool:
    """Whether a case the desk named as moved since the cursor ``since`` has news for
    the customer: an event after ``since`` that this host did not write itself (an
    engineer's reply, a status change), or a watched field that differs from ``before``
    (the snapshot of the last look; a customer's update reopens a case waiting on them)."""
    if before is not None and case_fingerprint(case) != before:
        return True
    events = case.get("events")
    if not isinstance(events, list):
        return before is None  # a desk that shows no thread: only a case not seen yet
    for event in events:
        if not isinstance(event, Mapping):
            continue
        number = event.get("id")
        if not isinstance(number, int) or number <= since or event.get("author_kind") == "host":
            continue
        if str(event.get("kind") or "").startswith(_SESSION_EVENTS):
            continue  # a remote session reaches the customer by its own prompt and banner
        return True
    return False


class _Remote:
    """The enrolled part of the runtime: desk client, session service and broker."""

    def __init__(
        self,
        desk: DeskClient,
        service: RemoteSessionService,
        broker: SessionBroker,
        agent_id: str,
    ) -> None:
        self.desk = desk
        self.service = service
        self.broker = broker
        self.agent_id = agent_id
        self.task: asyncio.Task[None] | None = None


class AgentRuntime:
    """The agent's services on one loop, until :meth:`stop`.

    ``prompter`` answers session requests (the terminal, the tray's window, or
    nobody). ``emit`` receives every event as a plain dict, on the loop's
    thread: a face that runs elsewhere (the tray's GUI thread) hands it over
    itself. ``on_show`` is called (on the loop's thread) when a second
    ``vxassist`` asks this one to bring its window forward. ``banner`` is added
    to the "running" line (the headless face says who answers prompts there).
    """

    def __init__(
        self,
        ctx: Context,
        prompter: Prompter,
        emit: Emit,
        *,
        clock: Callable[[], datetime] = utc_now,
        face: str = "headless",
        on_show: Callable[[], None] | None = None,
        banner: str = "",
        time_left_every_s: float = TIME_LEFT_EVERY_S,
        report_every_s: float = REPORT_EVERY_S,
        case_check_every_s: float = CASE_CHECK_EVERY_S,
        collect_report: Callable[[], Report] | None = None,
    ) -> None:
        self._ctx = ctx
        self._prompter = prompter
        self._emit_to = emit
        self._clock = clock
        self.face = face
        self._on_show = on_show
        self._banner = banner
        self._time_left_every_s = time_left_every_s
        self._report_every_s = report_every_s
        self._case_check_every_s = case_check_every_s
        self._collect = collect_report or self._collect_live_report
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._stop_requested = False
        self._remote: _Remote | None = None
        self._remote_lock: asyncio.Lock | None = None
        self._control: Any = None
        self._instance: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._report: Report | None = None
        self._report_at = 0.0
        self._report_job: asyncio.Future[Report] | None = None
        self._cases_seen: dict[int, tuple[str, ...]] | None = None
        #: the desk's case cursor the snapshot above is current to (None: look at every case)
        self._case_cursor_read: int | None = None
        #: one look at the cases at a time; a cursor move while one waits adds none
        self._case_lock: asyncio.Lock | None = None
        self._case_look_waiting = False
        self._enrolled = False

    # -- events ----------------------------------------------------------------------

    def _emit(self, kind: str, **fields: Any) -> None:
        event = {"event": kind, "at": self._clock().isoformat(), **fields}
        try:
            self._emit_to(event)
        except Exception:  # a face's display must never stop the agent
            log.exception("event sink failed on %s", kind)

    def _forward(self, event: Event) -> None:
        """Events of the broker and the service, passed on as they are."""
        try:
            self._emit_to(dict(event))
        except Exception:
            log.exception("event sink failed on %s", event.get("event"))

    def _say(self, message: str) -> None:
        self._emit("agent", message=message)

    # -- state -----------------------------------------------------------------------

    @property
    def enrolled(self) -> bool:
        """Whether this host has a desk to talk to (address and token): cases reach it."""
        return self._enrolled

    @property
    def sessions_available(self) -> bool:
        """Whether the session broker runs: engineers' requests can reach this host."""
        return self._remote is not None

    def live_sessions(self) -> list[Grant]:
        """The sessions running now (ending ones excluded)."""
        return [] if self._remote is None else self._remote.service.active()

    def enrollment_problem(self) -> VxError | None:
        """Why remote sessions cannot run on this host now, or None when they can.

        Blocking (reads the enrollment file and the secret store); the
        headless face asks before it starts, the tray shows enrollment instead.
        """
        from vxassist.cases.enroll import read_enrollment
        from vxassist.cases.intake import desk_client

        try:
            desk_client(self._ctx.settings, self._ctx.secrets()).close()
            enrollment = read_enrollment(self._ctx.paths)
            if not enrollment:
                raise AgentNotReady(
                    "This host is not enrolled with a support desk; run "
                    "`vxassist enroll --desk URL --code CODE` with the code from support.",
                )
            relay_endpoint(enrollment)
            if not str(enrollment.get("user_ca_public_key") or ""):
                raise AgentNotReady(
                    "This host's enrollment has no engineer CA key, so no engineer could log "
                    "in; enroll again with `vxassist enroll --desk URL --code CODE`.",
                )
        except VxError as exc:
            return exc
        return None

    # -- running -----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to end every session and return (from any thread)."""
        self._stop_requested = True
        loop, event = self._loop, self._stop_event
        if loop is None or event is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(event.set)

    async def run(self) -> int:
        """Run the services until :meth:`stop`; 0 after an orderly stop.

        Raises :class:`AgentAlreadyRunning` when another agent of this account
        answers on the control channel.
        """
        self._loop = asyncio.get_running_loop()
        stop = self._stop_event = asyncio.Event()
        self._remote_lock = asyncio.Lock()
        if self._stop_requested:
            stop.set()
        await self._start_control()
        try:
            self._spawn(self._outbox_loop(stop))
            self._spawn(self._report_loop(stop))
            self._spawn(self._time_left_loop(stop))
            self._spawn(self._case_check_loop(stop))
            problem = await self._in_thread(self.enrollment_problem)
            self._enrolled = problem is None or (
                isinstance(problem, AgentNotReady) and self._has_enrollment_file()
            )
            if self._enrolled:
                # a first look at the cases, so later changes can be told apart
                self._spawn(self._check_cases())
            if problem is None:
                await self._start_remote()
            elif self._enrolled:
                self._say(f"remote sessions cannot start: {problem.message}")
            else:
                self._say(
                    "running; this host is not enrolled with a support desk yet, so cases "
                    "wait in the outbox and no session request can arrive"
                    + (f"; {self._banner}" if self._banner else "")
                )
            await stop.wait()
        finally:
            self._say("stopping: ending every session")
            try:
                await self._stop_remote()
            finally:
                stop.set()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                await self._close_control()
        self._say("stopped")
        return 0

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("agent task failed", exc_info=task.exception())

    async def _in_thread(self, work: Callable[[], T]) -> T:
        from vxassist.remote.broker import in_daemon_thread

        return await in_daemon_thread(work)

    def _has_enrollment_file(self) -> bool:
        from vxassist.cases.enroll import enrollment_file

        return bool(enrollment_file(self._ctx.paths).exists())

    # -- the control channel ---------------------------------------------------------------

    async def _start_control(self) -> None:
        from vxassist import control

        # The lock decides (two agents started in the same instant cannot both pass);
        # the control channel only names the one that holds it.
        self._instance = instance = control.one_agent_lock(self._ctx.paths)
        if not instance.acquire():
            try:
                other = await self._in_thread(
                    lambda: control.ask(self._ctx.paths, "ping", timeout_s=3.0)
                )
            except control.ControlError as exc:
                log.warning("control file of the running agent not usable: %s", exc.detail or exc)
                other = None
            pid = other.get("pid", "?") if isinstance(other, dict) else "?"
            raise AgentAlreadyRunning(
                f"Another vxassist agent is already running for this account (pid {pid}); "
                "stop it first, or use `vxassist session list` to talk to it.",
            )
        server = control.ControlServer(self._ctx.paths, self._control_command, info={})
        try:
            await server.start()
        except OSError as exc:
            # sessions and the outbox matter more than `vxassist session` and single instance
            log.error("control channel not started: %r", exc)
            self._say(
                "the local control channel could not start, so `vxassist session` cannot "
                f"reach this agent ({exc.strerror or exc}); sessions and cases work as usual"
            )
            return
        self._control = server

    async def _close_control(self) -> None:
        server, self._control = self._control, None
        if server is not None:
            await server.close()
        instance, self._instance = self._instance, None
        if instance is not None:
            instance.release()

    async def _control_command(self, command: str, args: dict[str, Any]) -> Any:
        if command == "ping":
            from vxassist import __version__

            return {
                "pid": os.getpid(),
                "face": self.face,
                "enrolled": self.enrolled,
                "sessions_available": self.sessions_available,
                "version": __version__,
            }
        if command == "sessions":
            now = self._clock()
            return [session_view(g, now) for g in self.live_sessions()]
        if command == "end":
            session_id = args.get("session_id")
            if not isinstance(session_id, str) or not session_id or len(session_id) > 200:
                raise SessionNotFound("Give the id of a live session (`vxassist session list`).")
            reason = "ended by the customer"
            summary = await self.end_session(session_id, reason)
            return {"session_id": session_id, "ended": True, "reason": reason, "summary": summary}
        if command == "show":
            self._emit("show_requested")
            if self._on_show is not None:
                self._on_show()
            return {"face": self.face}
        raise VxError(f"Unknown command {command!r}.")

    # -- the remote part -------------------------------------------------------------------

    async def _start_remote(self) -> None:
        """Build and start the broker and the session service (the host is enrolled)."""
        lock, stop = self._remote_lock, self._stop_event
        if lock is None or stop is None:  # not running: run() starts it when enrolled
            return
        async with lock:
            if self._remote is not None or stop.is_set():
                return
            try:
                remote = await self._in_thread(self._build_remote)
            except VxError as exc:
                log.warning("remote sessions not started: %s (%s)", exc.message, exc.detail)
                self._say(f"remote sessions cannot start: {exc.message}")
                return
            self._remote = remote
            remote.task = self._spawn(remote.broker.run())
            policy = self._ctx.settings.remote
            self._say(
                f"running for {self._ctx.settings.desk_url} (agent {remote.agent_id}); "
                f"remote sessions {'allowed' if policy.enabled else 'switched off'}"
                + (f"; {self._banner}" if self._banner else "")
            )

    def _build_remote(self) -> _Remote:
        """Blocking: read the enrollment, open the audit log, build service and broker."""
        from vxassist.cases.enroll import read_enrollment
        from vxassist.cases.intake import desk_client
        from vxassist.remote.audit import AuditLog
        from vxassist.remote.broker import SessionBroker
        from vxassist.remote.service import RemoteSessionService

        ctx = self._ctx
        settings = ctx.settings
        enrollment = read_enrollment(ctx.paths)
        relay = relay_endpoint(enrollment)
        user_ca = str(enrollment.get("user_ca_public_key") or "")
        if not user_ca:
            raise AgentNotReady(
                "This host's enrollment has no engineer CA key, so no engineer could log in; "
                "enroll again with `vxassist enroll --desk URL --code CODE`.",
            )
        desk = desk_client(settings, ctx.secrets())
        audit = AuditLog.for_paths(ctx.paths, self._clock)
        broker_ref: list[SessionBroker] = []

        def on_service_event(event: dict[str, Any]) -> None:
            self._forward(event)
            if broker_ref:
                broker_ref[0].on_service_event(event)

        try:
            service = RemoteSessionService(
                ctx.paths,
                settings.remote,
                audit,
                user_ca,
                on_event=on_service_event,
                # the tray's live view of the engineer's terminal; the headless face has none
                live_terminals=self.face == "tray",
            )
        except VxError:
            desk.close()
            raise

        def own_cases() -> frozenset[int]:
            return frozenset(
                int(c["case_number"])
                for c in desk.list_cases()
                if isinstance(c.get("case_number"), int)
            )

        cap = os.environ.get(TEST_GRANT_SECONDS_ENV, "").strip()
        broker = SessionBroker(
            desk,
            self._prompter,
            settings.remote,
            service,
            audit,
            own_cases,
            self._clock,
            relay=lambda: relay,
            on_event=self._forward,
            max_grant_s=float(cap) if cap else None,
            on_case_cursor=self._case_cursor_moved,
        )
        broker_ref.append(broker)
        return _Remote(desk, service, broker, str(enrollment.get("agent_id", "?")))

    async def _stop_remote(self) -> None:
        """End every session ("agent stopped"), report the ends, stop the broker."""
        remote, self._remote = self._remote, None
        if remote is None:
            return
        if remote.task is not None:
            remote.task.cancel()
        try:
            await remote.broker.close(report_timeout_s=STOP_REPORT_TIMEOUT_S)
            await remote.service.close()
        finally:
            if remote.task is not None:
                await asyncio.gather(remote.task, return_exceptions=True)
            remote.desk.close()

    # -- actions -------------------------------------------------------------------------

    async def enroll(self, desk_url: str, code: str) -> dict[str, Any]:
        """Enroll this host with ``code`` at ``desk_url``, then start the remote part.

        Raises :class:`VxError` with a sentence (wrong code, code used, desk
        unreachable). Enrolling again replaces the previous enrollment; its
        live sessions end first.
        """
        from vxassist.cases.enroll import enroll

        ctx = self._ctx
        secrets = await self._in_thread(ctx.secrets)
        result = await self._in_thread(lambda: enroll(ctx.paths, secrets, desk_url, code))
        await self._in_thread(ctx.reload_settings)
        self._enrolled = True
        self._cases_seen = None
        self._case_cursor_read = None
        self._spawn(self._check_cases())
        await self._stop_remote()
        await self._start_remote()
        answer = {"desk_url": result.desk_url, **result.facts}
        if result.host_key_note:
            answer["host_key_note"] = result.host_key_note
        self._emit("enrolled", desk_url=result.desk_url, agent_id=result.facts.get("agent_id"))
        return answer

    async def end_session(
        self, session_id: str, reason: str = "ended by the customer"
    ) -> dict[str, Any]:
        """End one live session; returns once every channel is closed (with its summary).

        The end is reported to the desk in the background (the broker sees the
        service's teardown), so a slow desk never holds this up.
        """
        remote = self._remote
        if remote is None or session_id not in {g.session_id for g in remote.service.active()}:
            raise SessionNotFound(
                f"No live session has the id {session_id!r}; `vxassist session list` shows "
                "the live ones.",
            )
        return dict(await remote.service.end(session_id, reason) or {})

    async def end_all(self, reason: str) -> None:
        """End every live session at once."""
        remote = self._remote
        if remote is None:
            return
        ids = [g.session_id for g in remote.service.active()]
        await asyncio.gather(*(remote.service.end(sid, reason) for sid in ids))

    # -- the system report -------------------------------------------------------------------

    def _collect_live_report(self) -> Report:
        from vxassist.sysinfo.report import collect_report

        settings = self._ctx.settings
        return collect_report(settings, anonymize=settings.anonymize_by_default)

    async def report(self, max_age_s: float = 300) -> Report:
        """A system report no older than ``max_age_s`` (collected on a thread if needed)."""
        if self._report is not None and time.monotonic() - self._report_at <= max_age_s:
            return self._report
        return await self._refresh_report()

    async def _refresh_report(self) -> Report:
        if self._report_job is None or self._report_job.done():
            self._report_job = asyncio.ensure_future(self._collect_once())
        return await asyncio.shield(self._report_job)

    async def _collect_once(self) -> Report:
        started = time.monotonic()
        report = await self._in_thread(self._collect)
        self._report, self._report_at = report, started
        prefill: dict[str, str] = {}
        try:
            from vxassist.sysinfo.report import case_prefill

            prefill = {k: str(v) for k, v in case_prefill(report).items() if v}
        except (VxError, KeyError, TypeError, ValueError, AttributeError) as exc:
            log.warning("case prefill from the report failed: %r", exc)
        self._emit(
            "report_ready",
            generated_at=report.generated_at,
            duration_ms=round(report.duration_ms, 1),
            prefill=prefill,
        )
        return report

    async def _report_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._refresh_report()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # one failed report never stops the next
                log.warning("background system report failed: %r", exc)
                self._emit("report_failed", message=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._report_every_s)

    # -- time left, cases, outbox ------------------------------------------------------------

    async def _time_left_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._time_left_every_s)
            now = self._clock()
            for grant in self.live_sessions():
                self._emit(
                    "time_left",
                    session_id=grant.session_id,
                    left=left_text(grant.remaining(now)),
                    seconds_left=int(grant.remaining(now).total_seconds()),
                )

    async def _outbox_loop(self, stop: asyncio.Event) -> None:
        from vxassist.cases.intake import make_sender
        from vxassist.cases.outbox import OutboxService

        ctx = self._ctx
        secrets = await self._in_thread(ctx.secrets)
        # the settings are read per flush: an enrollment made meanwhile counts
        outbox = OutboxService(lambda: make_sender(ctx.paths, ctx.settings, secrets))
        await outbox.run(stop)

    async def _case_check_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._case_check_every_s)
            if stop.is_set() or not self._enrolled:
                continue
            remote = self._remote
            polled = None if remote is None else remote.broker.case_cursor
            # the desk's long poll says when a case changed (its case_cursor); look only
            # when it is ahead of what was read (a look failed, or the first cursor came
            # before the first look ended): a comparison, no desk call
            if polled is None or self._unread(polled):
                await self._check_cases()

    def _case_cursor_moved(self, cursor: int) -> None:
        """The desk's long poll says a case of this host changed: look now."""
        if not self._enrolled or not self._unread(cursor):
            return  # already read (the look that read it ran before the poll answered)
        if self._case_look_waiting:
            return  # a look that has not started yet reads this move too
        self._case_look_waiting = True
        self._spawn(self._check_cases())

    def _unread(self, cursor: int) -> bool:
        """Whether the desk's case ``cursor`` is ahead of what the last look read."""
        read = self._case_cursor_read
        return read is None or cursor > read

    async def _check_cases(self) -> None:
        """One look at this host's cases; a ``case_changed`` event for each change.

        The first look lists every case (a snapshot, no events) and notes the desk's
        case cursor; every later look asks the desk which cases moved since that
        cursor and reads only those. The cursor moves on only once every moved case
        was read, so a failed look is made again by the next one and nothing is
        missed. At a desk without the changes call, every look lists every case.
        """
        from vxassist.deskclient import DeskError

        if self._case_lock is None:
            self._case_lock = asyncio.Lock()
        async with self._case_lock:
            self._case_look_waiting = False
            try:
                if self._cases_seen is None or self._case_cursor_read is None:
                    await self._look_at_every_case()
                else:
                    await self._look_at_moved_cases(self._case_cursor_read)
            except DeskError as exc:
                log.info("case check skipped: %s", exc.detail or exc.message)
            except VxError as exc:
                log.info("case check skipped: %s", exc.message)

    async def _look_at_every_case(self) -> None:
        from vxassist.deskclient import DeskRejected

        def look(client: DeskClient) -> tuple[int | None, list[dict[str, Any]]]:
            cursor: int | None
            try:
                # read before the list: whatever moves meanwhile is read again next time
                cursor = _cursor_of(client.case_changes(0))
            except DeskRejected as exc:
                if exc.status not in _NO_CHANGES_CALL:
                    raise
                cursor = None  # an older desk: every look lists every case
            return cursor, client.list_cases()

        cursor, cases = await self._in_thread(self._desk_call(look))
        first = self._cases_seen is None
        self._cases_seen, changed = case_changes(self._cases_seen or {}, cases)
        self._case_cursor_read = cursor
        if not first:
            for case in changed:
                self._case_changed(case)

    async def _look_at_moved_cases(self, since: int) -> None:
        from vxassist.deskclient import DeskRejected

        def look(client: DeskClient) -> tuple[int, list[dict[str, Any]], list[int]]:
            answer = client.case_changes(since)
            cursor = _cursor_of(answer)
            numbers = answer.get("cases")
            read, gone = [], []
            for number in numbers if isinstance(numbers, list) else []:
                if isinstance(number, bool) or not isinstance(number, int):
                    continue
                try:
                    read.append(client.get_case(number))
                except DeskRejected as exc:
                    if exc.status != 404:
                        raise
                    gone.append(number)  # no longer this host's to read
            return cursor, read, gone

        cursor, cases, gone = await self._in_thread(self._desk_call(look))
        if cursor < since:
            # the desk's events start again (a new database): list every case once
            self._case_cursor_read = None
            await self._look_at_every_case()
            return
        seen = dict(self._cases_seen or {})
        for number in gone:
            seen.pop(number, None)
        news = []
        for case in cases:
            shown = case.get("case_number")
            if not isinstance(shown, int):
                continue
            if case_has_news(case, since, seen.get(shown)):
                news.append(case)
            seen[shown] = case_fingerprint(case)
        self._cases_seen = seen
        self._case_cursor_read = cursor
        for case in news:
            self._case_changed(case)

    def _case_changed(self, case: Mapping[str, Any]) -> None:
        self._emit(
            "case_changed",
            case_number=case.get("case_number"),
            status=case.get("status"),
            brief=case.get("brief"),
            priority=case.get("priority"),
            response_due=case.get("response_due"),
        )

    # -- cases ----------------------------------------------------------------------------

    def _desk_call(self, call: Callable[[DeskClient], T]) -> Callable[[], T]:
        """Blocking: ``call`` with a client for this host's desk, closed afterwards."""
        from vxassist.cases.intake import desk_client

        def work() -> T:
            with desk_client(self._ctx.settings, self._ctx.secrets()) as client:
                return call(client)

        return work

    async def submit_case(
        self, fields: Mapping[str, Any], report_payload: Mapping[str, Any] | None
    ) -> Submission:
        """File a case: outbox first, then one try at the desk (see ``cases.intake``).

        Raises ``CaseInvalid`` naming every field that is wrong.
        """
        from vxassist.cases.intake import submit_case
        from vxassist.cases.model import build_request

        request = build_request(dict(fields), system_report=report_payload)
        ctx = self._ctx
        submission = await self._in_thread(
            lambda: submit_case(ctx.paths, ctx.settings, ctx.secrets(), request, self._clock)
        )
        if submission.item.case_number is not None and self._cases_seen is not None:
            # a case filed here is news to nobody: no case_changed for it
            filed, _ = case_changes({}, [dict(submission.item.answer or {})])
            self._cases_seen = {**self._cases_seen, **filed}
        return submission

    async def list_cases(self) -> list[dict[str, Any]]:
        """This host's cases at the desk."""
        return await self._in_thread(self._desk_call(lambda c: c.list_cases()))

    async def get_case(self, number: int) -> dict[str, Any]:
        """One case with its history.

        Raises ``DeskUnavailable`` when the answer is not that case (something
        other than the desk answered at its address).
        """
        from vxassist.deskclient import DeskUnavailable

        case = await self._in_thread(self._desk_call(lambda c: c.get_case(number)))
        if case.get("case_number") != number:
            raise DeskUnavailable(
                "The answer from the support desk is not the case asked for; check the "
                "desk address and try again later.",
                detail=f"case {number}: answer keys {sorted(case)[:20]}",
            )
        return case

    async def update_case(
        self,
        number: int,
        text: str,
        report_payload: Mapping[str, Any] | None,
        log_files: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Add information to a case through the outbox (never lost).

        ``report_payload`` (the redacted report from ``cases.sendable``) and the
        ``log_files`` (read and scrubbed here) go with the update; the answer says
        ``report_attached`` and ``logs_attached``. Raises ``CaseError`` with the
        desk's sentence when the desk refuses the update.
        """
        from vxassist.cases.intake import read_logs, submit_update
        from vxassist.cases.model import CaseError
        from vxassist.cases.outbox import State

        ctx = self._ctx
        report = dict(report_payload) if report_payload else None
        chosen = list(log_files)
        logs = await self._in_thread(lambda: read_logs(chosen)) if chosen else []
        item = await self._in_thread(
            lambda: submit_update(
                ctx.paths,
                ctx.settings,
                ctx.secrets(),
                number,
                text,
                None,
                self._clock,
                system_report=report,
                logs=logs,
            )
        )
        if item.state is State.REJECTED:
            reason = (item.last_error or "no reason was given").strip().rstrip(".")
            raise CaseError(
                f"The desk refused the update: {reason}. It is kept on this computer "
                f"as outbox item {item.id}.",
                detail=f"outbox item {item.id} rejected",
            )
        answer = dict(item.answer) if item.answer is not None else item.summary()
        answer["outbox_state"] = str(item.state)
        answer["report_attached"] = report is not None
        answer["logs_attached"] = [name for name, _data in logs]
        return answer

    async def escalate_case(self, number: int, to: str, reason: str) -> dict[str, Any]:
        """Ask for a case to be escalated (``technical_support_manager`` or ``sales_manager``)."""
        return await self._in_thread(self._desk_call(lambda c: c.escalate_case(number, to, reason)))

    async def kb_search(self, query: str) -> list[dict[str, Any]] | None:
        """Knowledge-base articles for ``query``; None when the desk offers no search.

        None also when the host is not enrolled: the face then links to the
        support site from the settings instead.
        """
        return await self._kb_articles(KB_SEARCH_PATH, query)

    async def kb_suggest(self, text: str) -> list[dict[str, Any]] | None:
        """Up to three articles for a brief being typed, each with a link to its page;
        None when the desk offers no suggestions or the host is not enrolled."""
        return await self._kb_articles(KB_SUGGEST_PATH, text)

    async def _kb_articles(self, path: str, query: str) -> list[dict[str, Any]] | None:
        from vxassist.cases.intake import NotEnrolled
        from vxassist.deskclient import DeskRejected

        query = query.strip()
        if not query:
            return []

        def search(client: DeskClient) -> dict[str, Any]:
            answer = client.request("GET", path, params={"q": query})
            # the desk names its articles by path; the face needs a link it can open,
            # to the page a person reads when the desk has one
            for found in answer.get("articles") or []:
                if not isinstance(found, dict):
                    continue
                page, url = found.get("page"), found.get("url")
                link = page if isinstance(page, str) and page.startswith("/") else url
                if isinstance(link, str) and link.startswith("/"):
                    found["url"] = client.url(link)
            return answer

        try:
            answer = await self._in_thread(self._desk_call(search))
        except NotEnrolled:
            return None
        except DeskRejected as exc:
            if exc.status in (404, 405, 501):
                return None
            raise
        for key in ("results", "articles", "items"):
            found = answer.get(key)
            if isinstance(found, list):
                return [a for a in found if isinstance(a, dict)]
        return []


def session_view(grant: Grant, now: datetime) -> dict[str, Any]:
    """A live session as ``vxassist session list --json`` shows it."""
    left = grant.remaining(now)
    return {
        "session_id": grant.session_id,
        "engineer": grant.engineer,
        "case_number": grant.case_number,
        "scopes": [str(s) for s in grant.scopes],
        "not_after": grant.not_after.isoformat(),
        "left": left_text(left),
        "seconds_left": int(left.total_seconds()),
    }
