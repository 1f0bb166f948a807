"""The headless agent: the session broker and the case outbox on one asyncio loop.

``vxassist agent`` is for hosts without a desktop. Consent comes from the
terminal (``--consent tty``) or is refused outright (``--consent deny``). The
agent prints one line per event a person at the host should see: a request,
the decision, the session opening, the time left, the end. SIGINT and SIGTERM
(through the loop's own signal handling) end every session, report the ends
and exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from vxassist import eventloop
from vxassist.cliutil import Context
from vxassist.errors import VxError

log = logging.getLogger(__name__)

#: test-only: cap every grant at this many seconds (end-to-end tests need short grants)
TEST_GRANT_SECONDS_ENV = "VXASSIST_TEST_GRANT_SECONDS"
#: how often the agent prints the time left of a live session
TIME_LEFT_EVERY_S = 30.0


class AgentNotReady(VxError):
    """The host lacks what the headless agent needs (enrollment, relay facts)."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _clock_text(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return iso


def _left_text(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def describe(event: Mapping[str, Any]) -> str:
    """One line a person reads for one broker or session event."""
    kind = str(event.get("event", ""))
    sid = event.get("session_id", "")
    scopes = ", ".join(str(s) for s in event.get("scopes", []) or [])
    if kind == "request":
        return (
            f"request  {sid}: {event.get('engineer')} asks for {scopes} on case "
            f"{event.get('case_number')} for {event.get('minutes')} min: {event.get('reason')}"
        )
    if kind == "prompt":
        return f"prompt   {sid}: waiting up to {event.get('timeout_s', 0):.0f} s for an answer"
    if kind == "refused":
        return f"refused  {sid}: {event.get('reason')}"
    if kind == "decision":
        if event.get("approved"):
            until = _clock_text(str(event.get("not_after", "")))
            return f"approved {sid}: {scopes} until {until}"
        return f"denied   {sid}: {event.get('note') or 'denied'}"
    if kind == "session_open":
        until = _clock_text(str(event.get("not_after", "")))
        return (
            f"open     {sid}: {event.get('engineer')} may connect for case "
            f"{event.get('case_number')} ({scopes}) until {until}"
        )
    if kind == "time_left":
        return f"left     {sid}: {event.get('left')} remaining"
    if kind == "session_end":
        return f"ended    {sid}: {event.get('reason')}"
    if kind == "session_failed":
        return f"failed   {sid}: {event.get('reason')}"
    if kind == "withdrawn":
        return f"withdrawn {sid}: {event.get('reason')}; the prompt is void"
    if kind == "revoked":
        return f"revoked  {sid}: {event.get('reason')}"
    if kind == "desk_unavailable":
        return f"desk     unavailable, retrying: {event.get('message')}"
    if kind == "desk_available":
        return "desk     reachable again"
    if kind == "desk_rejected":
        return f"desk     refused this agent: {event.get('message')}"
    if kind in {"decision_rejected", "decision_undelivered", "report_undelivered"}:
        return f"desk     {kind.replace('_', ' ')} for {sid}: {event.get('message', '')}".rstrip()
    if kind == "agent":
        return f"agent    {event.get('message')}"
    # the session service's own events (they are audit lines too)
    if kind == "session_start":
        return f"start    {sid}: opening the tunnel to the relay"
    if kind == "tunnel_up":
        return f"tunnel   up on the relay (port {event.get('listen_port')})"
    if kind == "tunnel_closed":
        return f"tunnel   closed (port {event.get('listen_port')})"
    if kind == "login":
        return f"login    {sid}: {event.get('engineer')} connected"
    if kind == "channel":
        what = event.get("command") or event.get("kind")
        return f"engineer {sid}: opened {event.get('kind')}" + (
            f" ({what})" if what != event.get("kind") else ""
        )
    if kind == "process":
        return f"engineer {sid}: runs {event.get('command')}"
    if kind == "file":
        return f"engineer {sid}: {event.get('op')} {event.get('path')}"
    if kind == "forward":
        return f"engineer {sid}: forward to {event.get('target')}"
    if kind.endswith("_refused"):
        return f"refused  {sid}: {kind.replace('_', ' ')}: {event.get('reason')}"
    if kind == "teardown":
        return f"closed   {sid}: {event.get('reason')}"
    if kind == "disconnect":
        return f"engineer {sid}: disconnected"
    hidden = {"event", "at", "session_id", "ts", "seq", "prev", "hash", "summary"}
    rest = {k: v for k, v in event.items() if k not in hidden}
    detail = " ".join(f"{k}={v}" for k, v in rest.items())
    return f"{kind:<8} {sid} {detail}".rstrip()


class EventPrinter:
    """Prints events as lines (or JSON lines), flushed at once for whoever watches."""

    def __init__(self, out: TextIO, as_json: bool = False) -> None:
        self._out = out
        self._json = as_json

    def __call__(self, event: Mapping[str, Any]) -> None:
        line = json.dumps(dict(event), default=str) if self._json else describe(event)
        self._out.write(line + "\n")
        self._out.flush()


def _relay_endpoint(enrollment: Mapping[str, Any]) -> Any:
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


def _prompter(consent: str) -> Any:
    from vxassist.remote import consent as consent_mod

    if consent == "tty":
        return consent_mod.TtyPrompter()
    return consent_mod.DenyPrompter()


class HeadlessAgent:
    """Composition of the headless agent; ``run()`` until ``stop()`` or a signal."""

    def __init__(
        self,
        ctx: Context,
        consent: str,
        emit: Callable[[Mapping[str, Any]], None],
        clock: Callable[[], datetime] = utc_now,
        time_left_every_s: float = TIME_LEFT_EVERY_S,
        ignore_late_signals: bool = False,
    ) -> None:
        self._ctx = ctx
        self._consent = consent
        self._emit = emit
        self._clock = clock
        self._time_left_every_s = time_left_every_s
        self._stop: asyncio.Event | None = None
        self._ignore_late_signals = ignore_late_signals

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def _say(self, message: str) -> None:
        self._emit({"event": "agent", "at": self._clock().isoformat(), "message": message})

    async def run(self) -> int:
        from vxassist.cases.enroll import read_enrollment
        from vxassist.cases.intake import desk_client, make_sender
        from vxassist.cases.outbox import OutboxService
        from vxassist.remote.audit import AuditLog
        from vxassist.remote.broker import SessionBroker
        from vxassist.remote.service import RemoteSessionService

        ctx = self._ctx
        settings = ctx.settings
        secrets = ctx.secrets()
        desk = desk_client(settings, secrets)
        enrollment = read_enrollment(ctx.paths)
        relay = _relay_endpoint(enrollment)
        user_ca = str(enrollment.get("user_ca_public_key") or "")
        if not user_ca:
            raise AgentNotReady(
                "This host's enrollment has no engineer CA key, so no engineer could log in; "
                "enroll again with `vxassist enroll --desk URL --code CODE`.",
            )
        policy = settings.remote
        audit = AuditLog.for_paths(ctx.paths, self._clock)
        prompter = _prompter(self._consent)

        broker_ref: list[SessionBroker] = []

        def on_service_event(event: dict[str, Any]) -> None:
            self._emit(event)
            if broker_ref:
                broker_ref[0].on_service_event(event)

        service = RemoteSessionService(ctx.paths, policy, audit, user_ca, on_event=on_service_event)

        def own_cases() -> frozenset[int]:
            return frozenset(
                int(c["case_number"])
                for c in desk.list_cases()
                if isinstance(c.get("case_number"), int)
            )

        cap = os.environ.get(TEST_GRANT_SECONDS_ENV, "").strip()
        broker = SessionBroker(
            desk,
            prompter,
            policy,
            service,
            audit,
            own_cases,
            self._clock,
            relay=lambda: relay,
            on_event=self._emit,
            max_grant_s=float(cap) if cap else None,
        )
        broker_ref.append(broker)

        stop = self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)

        outbox = OutboxService(lambda: make_sender(ctx.paths, settings, secrets))
        consent_text = "at this terminal" if self._consent == "tty" else "never (--consent deny)"
        self._say(
            f"running for {settings.desk_url} (agent {enrollment.get('agent_id', '?')}); "
            f"remote sessions {'allowed' if policy.enabled else 'switched off'}, "
            f"consent {consent_text}; Ctrl-C stops"
        )
        tasks = [
            asyncio.ensure_future(broker.run()),
            asyncio.ensure_future(outbox.run(stop)),
            asyncio.ensure_future(self._time_left(broker, stop)),
        ]
        try:
            await stop.wait()
        finally:
            self._say("stopping: ending every session")
            tasks[0].cancel()
            tasks[2].cancel()
            try:
                await broker.close(report_timeout_s=2.0)
                await service.close()
            finally:
                stop.set()
                await asyncio.gather(*tasks, return_exceptions=True)
                for sig in (signal.SIGINT, signal.SIGTERM):
                    with contextlib.suppress(NotImplementedError, RuntimeError):
                        loop.remove_signal_handler(sig)
                    if self._ignore_late_signals:
                        # a second Ctrl-C (terminal and parent both send one) must not
                        # turn an orderly stop into a traceback
                        signal.signal(sig, signal.SIG_IGN)
                desk.close()
        self._say("stopped")
        return 0

    async def _time_left(self, broker: Any, stop: asyncio.Event) -> None:
        """Print the time left of each live session every ``time_left_every_s``."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._time_left_every_s)
            now = self._clock()
            for grant in broker.live_grants():
                self._emit(
                    {
                        "event": "time_left",
                        "at": now.isoformat(),
                        "session_id": grant.session_id,
                        "left": _left_text(grant.remaining(now)),
                        "seconds_left": int(grant.remaining(now).total_seconds()),
                    }
                )


def run_agent(ctx: Context, args: argparse.Namespace) -> int:
    """``vxassist agent``: run until Ctrl-C or SIGTERM."""
    printer = EventPrinter(sys.stdout, as_json=bool(getattr(args, "json", False)))
    agent = HeadlessAgent(ctx, args.consent, printer, ignore_late_signals=True)
    return eventloop.run(agent.run())


def register_agent(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``vxassist agent`` (called from :mod:`vxassist.remote.cli`)."""
    parser = sub.add_parser(
        "agent",
        help="run the headless agent (remote sessions and the case outbox)",
        description=(
            "Run the agent without a desktop: answer engineers' session requests at this "
            "terminal (--consent tty) or refuse them all (--consent deny), and send queued "
            "cases. Ctrl-C ends every session and stops."
        ),
    )
    parser.add_argument(
        "--consent",
        choices=("tty", "deny"),
        default="tty",
        help="who answers session requests: this terminal (default) or nobody (deny all)",
    )
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    parser.set_defaults(func=run_agent)
