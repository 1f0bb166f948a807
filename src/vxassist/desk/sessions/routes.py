"""The session broker's HTTP API (under ``/api/v1``).

Engineers ask for sessions and wait for the answer; hosts long-poll for requests
on their own cases, decide, and report the end. Long polls are async and read
the database in worker threads, so a waiting client holds no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from vxassist.desk.auth import (
    AgentDep,
    Caller,
    CallerCache,
    DatabaseDep,
    EngineerDep,
    remember_hosts,
)
from vxassist.desk.ca import CertificateAuthority
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database
from vxassist.desk.models import Agent
from vxassist.desk.routes.common import errors, now
from vxassist.desk.schemas import Note, PublicKey, Reason
from vxassist.desk.sessions import store
from vxassist.desk.sessions.broker import Broker
from vxassist.desk.sessions.state import MAX_MINUTES, MAX_SCOPES, Decision
from vxassist.paths import Paths

log = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    broker: Broker | None = getattr(app.state, "session_broker", None)
    if broker is None:
        yield
        return
    remembering = asyncio.create_task(_remember_fleet(app, broker))
    restore = _release_polls_on_stop(broker)
    try:
        yield
    finally:
        restore()
        remembering.cancel()
        await asyncio.gather(remembering, return_exceptions=True)
        await broker.close()


async def _remember_fleet(app: FastAPI, broker: Broker) -> None:
    """Once at start: the poll answer of every quiet host, and every host's identity,
    in one read, so a fleet coming back after a restart costs no read per host."""
    db: Database = app.state.db
    callers: CallerCache = app.state.callers

    def read() -> dict[str, dict[str, Any]]:
        remember_hosts(db, callers)
        with db.reading() as session:
            return store.quiet_answers(session)

    async def read_all() -> dict[str, dict[str, Any]]:
        return await run_in_threadpool(read)

    try:
        kept = await broker.remember_fleet(read_all, clock=lambda: app.state.clock().timestamp())
    except Exception as exc:  # the hosts then read one by one, as without it
        log.warning("could not read the fleet's answers at start: %s", exc)
        return
    log.info("remembered the poll answers of %d quiet hosts", kept)


def _release_polls_on_stop(broker: Broker) -> Callable[[], None]:
    """Answer every held poll as soon as the server is told to stop (SIGTERM, SIGINT),
    before it stops listening and waits for open requests: each host is told when to
    come back (:meth:`Broker.release_all`) instead of having its poll cut. The server's
    own handler still runs. Returns what puts the handlers back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    installed: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        server_handler = signal.getsignal(sig)
        if not callable(server_handler):
            continue  # no server handles it here: its default stands

        def handler(signum: int, frame: Any, then: Callable[..., Any] = server_handler) -> None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(broker.release_all)
            then(signum, frame)

        signal.signal(sig, handler)
        installed[sig] = (handler, server_handler)

    def restore() -> None:
        for sig, (ours, theirs) in installed.items():
            if signal.getsignal(sig) is ours:
                signal.signal(sig, theirs)

    return restore


#: how long a host's token stays verified in a process that hears of every host change
#: (a revoked token is forgotten at once through the host events)
HOST_TOKEN_TTL_S = 3600.0

router = APIRouter(prefix="/api/v1", tags=["sessions"], lifespan=_lifespan)
T = TypeVar("T")

ScopeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Wait = Annotated[float, Query(ge=0, le=3600, description="seconds to wait for a change")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SessionRequestIn(_In):
    case_number: Annotated[int, Field(ge=1, le=2**31 - 1)]
    scopes: Annotated[list[ScopeText], Field(min_length=1, max_length=MAX_SCOPES)]
    minutes: Annotated[int, Field(ge=1, le=MAX_MINUTES)]
    reason: Reason
    public_key: PublicKey


class DecisionIn(_In):
    approved: bool
    scopes: Annotated[list[ScopeText], Field(max_length=MAX_SCOPES)] = []
    not_before: datetime | None = None
    not_after: datetime | None = None
    note: Note = ""


class ExtensionIn(_In):
    minutes: Annotated[int, Field(ge=1, le=MAX_MINUTES)]
    reason: Note = ""


class ExtensionDecisionIn(_In):
    approved: bool
    not_after: datetime | None = None
    note: Note = ""


class EndedIn(_In):
    reason: Note = ""
    summary: dict[str, Any] = {}


class RevokeIn(_In):
    reason: Note = ""


# -- answers (documented in the OpenAPI contract) -----------------------------------


class AuditHeadOut(BaseModel):
    """The last audit line a host reported with a session's end (none yet: nulls)."""

    seq: int | None
    hash: str | None
    session_id: str | None


class RelayOut(BaseModel):
    name: str = Field("", description="the relay's name in the desk's [[relays]]")
    host: str
    port: int
    user: str
    known_hosts: str


class SessionOut(BaseModel):
    session_id: str
    status: Literal["pending", "approved", "denied", "expired", "revoked", "ended"]
    case_number: int
    engineer: str
    scopes: list[str]
    minutes: int
    reason: str
    verification_code: str
    key_fingerprint: str
    created_at: datetime
    expires_at: datetime
    not_before: datetime | None
    not_after: datetime | None
    certificate: str | None = Field(description="the engineer's OpenSSH user certificate")
    relay: RelayOut | None = Field(
        description="the relay the host is on (null: its relay is no longer configured)"
    )
    listen_port: int | None
    host_alias: str
    host_ca_public_key: str = Field(
        description="the host CA key(s) to trust, one per line (two while a rotation overlaps)"
    )
    note: str
    end_reason: str
    ended_at: datetime | None
    summary: dict[str, Any] | None


class SessionList(BaseModel):
    sessions: list[SessionOut]


class SessionRequestOut(BaseModel):
    session_id: str
    engineer: str
    case_number: int
    case_brief: str
    scopes: list[str]
    minutes: int
    reason: str
    verification_code: str
    key_fingerprint: str
    received_at: datetime
    expires_at: datetime


class RevocationOut(BaseModel):
    session_id: str
    reason: str


class ExtensionOut(BaseModel):
    session_id: str
    number: int
    status: Literal["pending", "approved", "refused", "expired"]
    engineer: str
    minutes: int
    reason: str
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None
    previous_not_after: datetime | None
    not_after: datetime | None
    note: str
    session: SessionOut = Field(description="the session as it now is (new certificate)")


class ExtensionRequestOut(BaseModel):
    session_id: str
    number: int
    engineer: str
    case_number: int
    minutes: int
    reason: str
    not_after: datetime | None
    received_at: datetime
    expires_at: datetime


class SessionRequestsOut(BaseModel):
    requests: list[SessionRequestOut]
    revoked: list[RevocationOut]
    extensions: list[ExtensionRequestOut] = []
    case_cursor: int = Field(
        0,
        description="the newest customer-visible event of this host's cases: when it "
        "moved, ask GET /api/v1/cases/changes?since=N",
    )


# -- wiring ---------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Give the app its CA, broker and the enrollment answer's extra keys."""
    config: DeskConfig = app.state.config
    db: Database = app.state.db
    cfg = config.sessions
    ca_dir = cfg.ca_dir or Paths.from_env().data_dir / "desk-ca"
    rt = store.Runtime(config=cfg, ca=CertificateAuthority(FsPath(ca_dir)))
    app.state.sessions = rt
    broker = app.state.session_broker = Broker(db.url, cfg.poll_interval_s)
    callers: CallerCache = app.state.callers

    def hosts_changed(agent_ids: frozenset[str] | None) -> None:
        # hosts' identities stay cached while this process hears of every host change
        callers.forget_agents(agent_ids)
        callers.host_ttl_s = HOST_TOKEN_TTL_S if broker.listening else 0.0

    broker.listeners.append(hosts_changed)
    hosts_changed(frozenset())

    def extra(session: Session, agent: Agent, at: datetime) -> dict[str, Any]:
        return store.enrollment_extra(rt, session, agent, at)

    app.state.enrollment_extras.append(extra)


def _rt(request: Request) -> store.Runtime:
    rt: store.Runtime = request.app.state.sessions
    return rt


def _broker(request: Request) -> Broker:
    broker: Broker = request.app.state.session_broker
    return broker


def _ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


async def _write(request: Request, db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work`` in one writing transaction off the loop.

    The store names the hosts its change concerns (``hostevents.publish``); their
    polls wake once this commits.
    """

    def run() -> T:
        with db.writing() as session:
            return work(session)

    return await run_in_threadpool(run)


async def _read(request: Request, db: Database, work: Callable[[Session], T]) -> T:
    """Run ``work`` reading only; if it finds something to settle, run it as a write."""

    def run() -> T:
        with db.reading() as session:
            session.info[store.READ_ONLY] = True
            return work(session)

    try:
        return await run_in_threadpool(run)
    except store.NeedsWrite:
        return await _write(request, db, work)


def _wait_s(request: Request, wait: float) -> float:
    return min(wait, _rt(request).config.max_wait_s)


# -- engineers ------------------------------------------------------------------


@router.post(
    "/engineer/sessions",
    status_code=201,
    response_model=SessionOut,
    responses=errors(401, 403, 404, 409, 422),
)
async def request_session(
    body: SessionRequestIn, request: Request, who: EngineerDep, db: DatabaseDep
) -> JSONResponse:
    """Ask the host of a case for a session; the answer carries the verification code."""
    rt, at = _rt(request), now(request)
    new = store.NewRequest(
        body.case_number, tuple(body.scopes), body.minutes, body.reason, body.public_key
    )
    answer = await _write(request, db, lambda s: store.create(s, rt, who.name, new, at))
    log.info(
        "session %s requested by %s on case %s", answer["session_id"], who.name, body.case_number
    )
    return _ok(answer, 201)


@router.get("/engineer/sessions", response_model=SessionList, responses=errors(401, 403))
async def list_sessions(request: Request, who: EngineerDep, db: DatabaseDep) -> JSONResponse:
    """The caller's sessions, newest first."""
    rt = _rt(request)
    rows = await _read(
        request, db, lambda s: store.list_for_engineer(s, rt, who.name, now(request))
    )
    return _ok({"sessions": rows})


@router.get(
    "/engineer/sessions/{session_id}", response_model=SessionOut, responses=errors(401, 403, 404)
)
async def get_session(
    session_id: str, request: Request, who: EngineerDep, db: DatabaseDep, wait: Wait = 0
) -> JSONResponse:
    """One session; with ``wait``, returns as soon as it is no longer pending."""
    rt = _rt(request)

    async def fetch() -> tuple[dict[str, Any], bool]:
        return await _read(
            request, db, lambda s: store.get_for_engineer(s, rt, who.name, session_id, now(request))
        )

    answer, _pending = await _broker(request).long_poll(
        fetch, lambda r: not r[1], _wait_s(request, wait), _host_of
    )
    return _ok(answer)


@router.post(
    "/engineer/sessions/{session_id}/revoke",
    response_model=SessionOut,
    responses=errors(401, 403, 404),
)
async def revoke_session(
    session_id: str,
    request: Request,
    who: EngineerDep,
    db: DatabaseDep,
    body: RevokeIn | None = None,
) -> JSONResponse:
    """End the caller's session now (or withdraw a request not yet answered)."""
    rt, at = _rt(request), now(request)
    reason = body.reason if body else ""
    answer = await _write(
        request, db, lambda s: store.revoke(s, rt, who.name, who.name, session_id, reason, at)
    )
    return _ok(answer)


@router.post(
    "/engineer/sessions/{session_id}/extensions",
    status_code=201,
    response_model=ExtensionOut,
    responses=errors(401, 403, 404, 409, 422),
)
async def request_extension(
    session_id: str, body: ExtensionIn, request: Request, who: EngineerDep, db: DatabaseDep
) -> JSONResponse:
    """Ask the customer for more minutes on the caller's live session (one at a time)."""
    rt, at = _rt(request), now(request)
    answer = await _write(
        request,
        db,
        lambda s: store.request_extension(
            s, rt, who.name, session_id, body.minutes, body.reason, at
        ),
    )
    log.info("session %s: extension %s asked by %s", session_id, answer["number"], who.name)
    return _ok(answer, 201)


@router.get(
    "/engineer/sessions/{session_id}/extensions/{number}",
    response_model=ExtensionOut,
    responses=errors(401, 403, 404),
)
async def get_extension(
    session_id: str,
    number: Annotated[int, Path(ge=1, le=2**31 - 1)],
    request: Request,
    who: EngineerDep,
    db: DatabaseDep,
    wait: Wait = 0,
) -> JSONResponse:
    """One extension; with ``wait``, returns as soon as the customer has answered."""
    rt = _rt(request)

    async def fetch() -> tuple[dict[str, Any], bool]:
        return await _read(
            request,
            db,
            lambda s: store.get_extension_for_engineer(
                s, rt, who.name, session_id, number, now(request)
            ),
        )

    answer, _pending = await _broker(request).long_poll(
        fetch, lambda r: not r[1], _wait_s(request, wait), _host_of
    )
    return _ok(answer)


# -- hosts ----------------------------------------------------------------------


@router.get(
    "/agent/session-requests", response_model=SessionRequestsOut, responses=errors(401, 403)
)
async def session_requests(
    request: Request,
    who: AgentDep,
    db: DatabaseDep,
    wait: Wait = 0,
    cursor: Annotated[
        int | None,
        Query(ge=0, description="the case_cursor the host last saw: a newer one answers at once"),
    ] = None,
) -> JSONResponse:
    """Pending requests on this host's cases and revocations it must carry out.

    With ``wait``, returns at once when there is something this host has not been
    given yet, else when something of this host changes or the wait ends. A waiting
    poll costs no database work: it reads when it starts (not even then when nothing
    changed for this host since its last read) and when this host's data changes.
    """
    agent_id = _agent_id(who)
    broker = _broker(request)

    def keys(answer: dict[str, Any]) -> frozenset[str]:
        return frozenset(
            [f"req:{r['session_id']}" for r in answer["requests"]]
            + [f"rev:{r['session_id']}" for r in answer["revoked"]]
            + [f"ext:{r['session_id']}:{r['number']}" for r in answer["extensions"]]
        )

    async def read() -> tuple[dict[str, Any], float | None]:
        answer = await _read(request, db, lambda s: store.poll_for_agent(s, agent_id, now(request)))
        return answer, _changes_at(answer)

    answer = await broker.host_poll(
        agent_id,
        read,
        lambda a: (
            broker.fresh_for(agent_id, keys(a))
            or (cursor is not None and a["case_cursor"] != cursor)
        ),
        _wait_s(request, wait),
        clock=lambda: now(request).timestamp(),
    )
    broker.delivered(agent_id, keys(answer))
    return _ok(answer)


@router.post(
    "/agent/session-requests/{session_id}/decision",
    response_model=SessionOut,
    responses=errors(401, 403, 404, 409, 422),
)
async def decide(
    session_id: str, body: DecisionIn, request: Request, who: AgentDep, db: DatabaseDep
) -> JSONResponse:
    """The customer's answer; on approval the desk signs the engineer's key."""
    rt, at, agent_id = _rt(request), now(request), _agent_id(who)
    decision = Decision(
        body.approved, tuple(body.scopes), body.not_before, body.not_after, body.note
    )
    answer = await _write(
        request, db, lambda s: store.decide(s, rt, agent_id, session_id, decision, at)
    )
    return _ok(answer)


@router.post(
    "/agent/sessions/{session_id}/extensions/{number}/decision",
    response_model=ExtensionOut,
    responses=errors(401, 403, 404, 409, 422),
)
async def decide_extension(
    session_id: str,
    number: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: ExtensionDecisionIn,
    request: Request,
    who: AgentDep,
    db: DatabaseDep,
) -> JSONResponse:
    """The customer's answer to an extension; on approval the session's end moves and
    the engineer's key is signed again for the new window."""
    rt, at, agent_id = _rt(request), now(request), _agent_id(who)
    answer = await _write(
        request,
        db,
        lambda s: store.decide_extension(
            s, rt, agent_id, session_id, number, body.approved, body.not_after, body.note, at
        ),
    )
    return _ok(answer)


@router.post(
    "/agent/sessions/{session_id}/ended",
    response_model=SessionOut,
    responses=errors(401, 403, 404, 409, 413),
)
async def session_ended(
    session_id: str, body: EndedIn, request: Request, who: AgentDep, db: DatabaseDep
) -> JSONResponse:
    """The host closed the session; its summary goes onto the case."""
    rt, at, agent_id = _rt(request), now(request), _agent_id(who)
    answer = await _write(
        request,
        db,
        lambda s: store.ended(s, rt, agent_id, session_id, body.reason, body.summary, at),
    )
    return _ok(answer)


@router.get("/agent/audit-head", response_model=AuditHeadOut, responses=errors(401, 403))
async def audit_head(request: Request, who: AgentDep, db: DatabaseDep) -> JSONResponse:
    """The desk's copy of this host's audit position, from its latest session summary.

    ``vxassist audit verify`` compares the host's log with it: lines cut off the
    end show even when the head file beside the log was rewritten to match.
    """
    agent_id = _agent_id(who)
    return _ok(await _read(request, db, lambda s: store.audit_head_for_agent(s, agent_id)))


def _host_of(result: tuple[dict[str, Any], bool]) -> str | None:
    """The host whose changes wake an engineer waiting on one of its sessions."""
    session_json = result[0].get("session", result[0])
    alias = str(session_json.get("host_alias", ""))
    return alias[3:] if alias.startswith("vx-") else None


def _changes_at(answer: dict[str, Any]) -> float | None:
    """The first moment a poll answer may change with no write (a request or an
    extension lapsing), as epoch seconds; None when nothing in it lapses."""
    moments: list[float] = []
    for item in (*answer["requests"], *answer["extensions"]):
        for field in ("expires_at", "not_after"):
            value = item.get(field)
            if value:
                moments.append(datetime.fromisoformat(value).timestamp())
    return min(moments) if moments else None


def _agent_id(who: Caller) -> str:
    assert who.agent_id is not None
    return who.agent_id
