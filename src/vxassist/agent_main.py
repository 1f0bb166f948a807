"""The headless face of the agent: terminal prompts and one printed line per event.

``vxassist agent`` is for hosts without a desktop. It builds the agent runtime
(:mod:`vxassist.runtime`: broker, sessions, outbox, control channel) with a
terminal prompter and prints its events. Consent comes from the
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
import signal
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from vxassist import eventloop
from vxassist.cliutil import Context

if TYPE_CHECKING:
    from vxassist.runtime import AgentRuntime

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _clock_text(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return iso


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
    if kind == "extension_request":
        return (
            f"extend   {sid}: {event.get('engineer')} asks for {event.get('minutes')} more "
            f"min: {event.get('reason')}"
        )
    if kind == "extension_prompt":
        return f"prompt   {sid}: extension, waiting up to {event.get('timeout_s', 0):.0f} s"
    if kind == "extension_decision":
        if event.get("approved"):
            until = _clock_text(str(event.get("not_after", "")))
            return f"extended {sid}: {event.get('minutes')} more min, until {until}"
        return f"kept     {sid}: no extension ({event.get('note') or event.get('reason')})"
    if kind == "extension_withdrawn":
        return f"withdrawn {sid}: extension {event.get('number')}: {event.get('reason')}"
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
    # the runtime's own events
    if kind == "report_ready":
        return f"report   system report ready ({event.get('duration_ms', 0):.0f} ms)"
    if kind == "report_failed":
        return f"report   the system report failed: {event.get('message')}"
    if kind == "case_changed":
        from vxassist.cases.status import status_label

        status = status_label(event.get("status"))
        return f"case     {event.get('case_number')}: {status} - {event.get('brief')}"
    if kind == "enrolled":
        return f"agent    enrolled with {event.get('desk_url')} as agent {event.get('agent_id')}"
    if kind == "show_requested":
        return "agent    another vxassist asked for this agent's window (there is none here)"
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


def _prompter(consent: str) -> Any:
    from vxassist.remote import consent as consent_mod

    if consent == "tty":
        return consent_mod.TtyPrompter()
    return consent_mod.DenyPrompter()


async def _run_headless(runtime: AgentRuntime, ignore_late_signals: bool) -> int:
    """Run ``runtime`` with SIGINT and SIGTERM as its stop.

    The loop's own signal handling where it has one (POSIX); on Windows, where
    it has none, a plain handler that only asks the runtime to stop (its stop
    is thread-safe and wakes the loop), so Ctrl-C still ends every session.
    """
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    plain: dict[int, Any] = {}
    for sig in signals:
        try:
            loop.add_signal_handler(sig, runtime.stop)
        except NotImplementedError:
            plain[sig] = signal.signal(sig, lambda _sig, _frame: runtime.stop())
        except RuntimeError:
            log.info("signal %s not handled (not the main thread)", sig)
    try:
        return await runtime.run()
    finally:
        for sig in signals:
            if sig in plain:
                signal.signal(sig, plain[sig])
            else:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            if ignore_late_signals:
                # a second Ctrl-C (terminal and parent both send one) must not
                # turn an orderly stop into a traceback
                signal.signal(sig, signal.SIG_IGN)


def headless_runtime(
    ctx: Context,
    consent: str,
    emit: Callable[[dict[str, Any]], None],
    clock: Callable[[], datetime] = utc_now,
    **options: Any,
) -> AgentRuntime:
    """The agent runtime with the headless face's prompter and start line."""
    from vxassist.runtime import AgentRuntime

    consent_text = "at this terminal" if consent == "tty" else "never (--consent deny)"
    return AgentRuntime(
        ctx,
        _prompter(consent),
        emit,
        clock=clock,
        face="headless",
        banner=f"consent {consent_text}; Ctrl-C stops",
        **options,
    )


def run_agent(ctx: Context, args: argparse.Namespace) -> int:
    """``vxassist agent``: run until Ctrl-C or SIGTERM."""
    printer = EventPrinter(sys.stdout, as_json=bool(getattr(args, "json", False)))
    runtime = headless_runtime(ctx, args.consent, printer)
    # without an enrollment nobody could reach a headless host: say what to do instead
    problem = runtime.enrollment_problem()
    if problem is not None:
        raise problem
    return eventloop.run(_run_headless(runtime, ignore_late_signals=True))


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
