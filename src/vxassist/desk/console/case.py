"""A case in the console: its fields, system report, thread and the engineer's actions.

Every change goes through ``vxassist.desk.casework`` (reply, note, call, status,
assignment, escalation) or the session broker's store (a remote session), the
same functions the API and the CLI call, in one transaction per form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from vxassist.desk import casework
from vxassist.desk.auth import Caller
from vxassist.desk.console import auth
from vxassist.desk.console.render import page, redirect
from vxassist.desk.db import Database
from vxassist.desk.errors import DeskError
from vxassist.desk.models import Case, Engineer
from vxassist.desk.sessions import store
from vxassist.desk.sessions.tables import RemoteSession
from vxassist.errors import VxError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console/cases", include_in_schema=False)

#: the longest text a thread entry takes from the console
MAX_TEXT = 20_000
#: scopes offered as boxes; forwards are typed (forward:HOST:PORT)
SCOPE_BOXES = ("shell", "files")


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _caller(me: auth.Signed) -> Caller:
    return Caller(kind="engineer", name=me.name)


def _href(case: Case) -> str:
    ident = str(case.case_number) if case.case_number is not None else case.reference
    return f"/console/cases/{quote(ident, safe='')}"


def _sessions_of(
    session: Session, rt: store.Runtime, case: Case, now: datetime
) -> list[dict[str, Any]]:
    ids = session.scalars(
        select(RemoteSession.session_id)
        .where(RemoteSession.case_id == case.id)
        .order_by(RemoteSession.created_at.desc())
        .limit(20)
    ).all()
    return [store.get_for_engineer(session, rt, None, sid, now)[0] for sid in ids]


def _read_case(request: Request, ident: str, me: auth.Signed) -> dict[str, Any]:
    db, now, rt = _db(request), request.app.state.clock(), request.app.state.sessions
    who = _caller(me)

    def work(session: Session) -> dict[str, Any]:
        case = casework.find_case(session, ident, who)
        data = casework.render_full(session, case, who, now)
        return {
            "case": case,
            "data": data,
            "deadline": casework.deadline_state(case, now),
            "events": casework.thread(session, case, who),
            "escalations": casework.escalations(session, case),
            "related": casework.related(session, case),
            "remote": _sessions_of(session, rt, case, now),
            "engineers": list(session.scalars(select(Engineer.name).order_by(Engineer.name))),
        }

    try:
        with db.reading() as session:
            session.info[store.READ_ONLY] = True
            found = work(session)
            session.expunge_all()
            return found
    except store.NeedsWrite:  # a lapsed session request is settled on the way
        with db.writing() as session:
            found = work(session)
            session.expunge_all()
            return found


@router.get("/{ident}")
def case_page(ident: str, request: Request, me: auth.Me) -> Response:
    try:
        found = _read_case(request, ident[:40], me)
    except DeskError as exc:
        return page(
            request,
            "message.html",
            status_code=exc.status,
            heading="No such case",
            sentence=exc.message,
            back="/console/",
        )
    case: Case = found["case"]
    pending = any(s["status"] == "pending" for s in found["remote"])
    return page(
        request,
        "case.html",
        now=request.app.state.clock(),
        href=_href(case),
        # in the workflow's order (new, in progress, waiting, resolved, closed)
        transitions=[
            s for s in casework.TRANSITIONS if s in casework.TRANSITIONS.get(case.status, ())
        ],
        status_labels=casework.STATUS_LABELS,
        level_labels=casework.LEVEL_LABELS,
        scope_boxes=SCOPE_BOXES,
        refresh=pending,
        files={ev["id"]: ev.get("attachments", []) for ev in found["data"].get("events", [])},
        **found,
    )


def _act(
    request: Request,
    ident: str,
    me: auth.Signed,
    work: Callable[[Session, Case, Caller, datetime], str],
) -> Response:
    """Run one action on the case in one transaction; back to the case with a sentence."""
    db, now = _db(request), request.app.state.clock()
    who = _caller(me)
    target = f"/console/cases/{quote(ident[:40], safe='')}"
    try:
        with db.writing() as session:
            case = casework.find_case(session, ident[:40], who)
            target = _href(case)
            done = work(session, case, who, now)
    except VxError as exc:  # DeskError and the broker's input errors: their sentence
        return redirect(request, target, problem=exc.message)
    return redirect(request, target, done=done)


def _text(form: dict[str, str], name: str, what: str) -> str:
    text = form.get(name, "").strip()
    if not text:
        raise DeskError(422, "text_empty", f"Write the {what} first; it was empty.")
    if len(text) > MAX_TEXT:
        raise DeskError(
            422, "text_long", f"Keep the {what} under {MAX_TEXT} characters; shorten it."
        )
    return text


@router.post("/{ident}/reply")
def reply(ident: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    def work(session: Session, case: Case, who: Caller, now: datetime) -> str:
        casework.reply(session, case, who, _text(form, "text", "reply"), now)
        return "Reply sent; the customer sees it."

    return _act(request, ident, me, work)


@router.post("/{ident}/note")
def note(ident: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    def work(session: Session, case: Case, who: Caller, now: datetime) -> str:
        casework.note(session, case, who, _text(form, "text", "note"), now)
        return "Internal note added (the customer does not see it)."

    return _act(request, ident, me, work)


@router.post("/{ident}/call")
def call(ident: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    def work(session: Session, case: Case, who: Caller, now: datetime) -> str:
        casework.log_call(session, case, who, _text(form, "text", "call summary"), now)
        return "Call logged."

    return _act(request, ident, me, work)


@router.post("/{ident}/status")
def status(ident: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    def work(session: Session, case: Case, who: Caller, now: datetime) -> str:
        wanted = form.get("status", "")
        if wanted not in casework.TRANSITIONS:
            raise DeskError(422, "status_unknown", "Choose a status from the list.")
        note_text = form.get("note", "").strip()[:MAX_TEXT] or None
        casework.set_status(session, case, who, wanted, note_text, now)
        return f"Status now: {casework.STATUS_LABELS.get(wanted, wanted)}."

    return _act(request, ident, me, work)


@router.post("/{ident}/assign")
def assign(ident: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    def work(session: Session, case: Case, who: Caller, now: datetime) -> str:
        name = form.get("assignee", "").strip()[:100] or None
        casework.assign(session, case, who, name, now)
        return f"Assigned to {name}." if name else "Nobody is assigned now."

    return _act(request, ident, me, work)


@router.post("/{ident}/escalate")
def escalate(ident: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    config = request.app.state.config

    def work(session: Session, case: Case, who: Caller, now: datetime) -> str:
        level = form.get("level", "")
        reason = _text(form, "reason", "reason for the escalation")
        done = casework.escalate(session, case, who, level, reason, now, config)
        return f"Escalated; {done.recipient} is briefed by e-mail."

    return _act(request, ident, me, work)


@router.post("/{ident}/escalations/close")
def close_escalation(ident: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    def work(session: Session, case: Case, who: Caller, now: datetime) -> str:
        raw = form.get("escalation_id", "")
        escalation_id = int(raw) if raw.isdigit() and len(raw) < 12 else None
        note_text = form.get("note", "").strip()[:MAX_TEXT] or None
        casework.close_escalation(session, case, who, escalation_id, note_text, now)
        return "Escalation closed."

    return _act(request, ident, me, work)


@router.post("/{ident}/session")
def request_session(ident: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    """Ask the case's host for a remote session, as ``vxassist engineer request`` does."""
    rt: store.Runtime = request.app.state.sessions
    form_scopes = [name for name in SCOPE_BOXES if form.get(f"scope_{name}") == "1"]
    forwards = [f.strip() for f in form.get("forwards", "").replace(",", " ").split() if f.strip()]
    form_scopes += [f if f.startswith("forward:") else f"forward:{f}" for f in forwards[:8]]

    def work(session: Session, case: Case, who: Caller, now: datetime) -> str:
        if case.case_number is None:
            raise DeskError(
                409, "no_case_number", "A request without a case number has no host session."
            )
        raw = form.get("minutes", "").strip()
        if not raw.isdigit() or len(raw) > 5:
            raise DeskError(422, "minutes", "Give the minutes as a whole number, e.g. 30.")
        new = store.NewRequest(
            case_number=case.case_number,
            scopes=tuple(form_scopes),
            minutes=int(raw),
            reason=form.get("reason", "")[:4000],
            public_key=form.get("public_key", "").strip()[:16_000],
        )
        answer = store.create(session, rt, who.name, new, now)
        log.info("session %s requested in the console by %s", answer["session_id"], who.name)
        return (
            f"Session {answer['session_id']} requested; read the customer the code "
            f"{answer['verification_code']}. This page follows their decision."
        )

    return _act(request, ident, me, work)


@router.get("/{ident}/attachments/{attachment_id}")
def attachment(ident: str, attachment_id: int, request: Request, me: auth.Me) -> Response:
    """A file of the thread, as a download (never shown inline: it is the customer's text)."""
    who = _caller(me)
    try:
        with _db(request).reading() as session:
            case = casework.find_case(session, ident[:40], who)
            found = casework.attachment(session, case, attachment_id)
            name, data = found.filename, bytes(found.data)
    except DeskError as exc:
        return page(
            request,
            "message.html",
            status_code=exc.status,
            heading="Not found",
            sentence=exc.message,
            back="/console/",
        )
    safe = quote(name, safe="")
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{safe}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
