"""Console sign-in: the session cookie, its row in ``console_sessions``, and CSRF.

The cookie carries a random token; the desk keeps only its sha256, with the
engineer, a CSRF token, and when it expires. Every request looks the row up
joined to its engineer, so a removed engineer (whose rows the foreign key
cascade deletes) or a session past its expiry or idle limit is signed out at
once. Every POST carries the session's CSRF token in a hidden field, compared
with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vxassist.desk.consoleconfig import ConsoleConfig
from vxassist.desk.db import Database
from vxassist.desk.models import ConsoleSession, Engineer
from vxassist.desk.throttle import FailureThrottle
from vxassist.desk.tokens import token_hash

COOKIE = "vx_console"
#: a form larger than this is no console form
MAX_FORM_BYTES = 256 * 1024
#: how stale ``last_seen_at`` may get before a request writes it again
TOUCH_EVERY = timedelta(seconds=60)


#: the settings of ``[console]`` (desk/consoleconfig.py)
ConsoleSettings = ConsoleConfig


@dataclass(frozen=True)
class Signed:
    """The engineer behind a request's console session."""

    engineer_id: int
    name: str
    is_manager: bool
    csrf: str
    token_hash: str


class SignInNeeded(Exception):
    """No live console session: the page answers with the sign-in form."""


class FormRefused(Exception):
    """A POST the console will not act on (forged, or not a form), with a sentence."""

    def __init__(self, sentence: str, status: int = 403) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.status = status


def settings(request: Request) -> ConsoleSettings:
    found = getattr(request.app.state, "console_settings", None)
    return found if isinstance(found, ConsoleSettings) else ConsoleSettings()


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


# -- sessions (functions over a SQLAlchemy session, the clock passed in) ---------------


def start_session(
    session: Session, engineer: Engineer, now: datetime, conf: ConsoleSettings
) -> str:
    """A new console session for ``engineer``; the cookie's token (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=token_hash(token),
            engineer_id=engineer.engineer_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(hours=conf.session_hours),
            last_seen_at=now,
        )
    )
    return token


def lookup(
    session: Session, token: str, now: datetime, conf: ConsoleSettings
) -> tuple[Signed, bool] | None:
    """The live session behind ``token`` and whether its ``last_seen_at`` is stale."""
    row = session.execute(
        select(ConsoleSession, Engineer)
        .join(Engineer, Engineer.engineer_id == ConsoleSession.engineer_id)
        .where(ConsoleSession.token_hash == token_hash(token))
    ).first()
    if row is None:
        return None
    cs, engineer = row
    idle_limit = cs.last_seen_at + timedelta(minutes=conf.idle_minutes)
    if now >= cs.expires_at or now >= idle_limit or engineer.password_hash is None:
        return None
    signed = Signed(
        engineer_id=engineer.engineer_id,
        name=engineer.name,
        is_manager=bool(engineer.is_manager),
        csrf=cs.csrf_token,
        token_hash=cs.token_hash,
    )
    return signed, now - cs.last_seen_at >= TOUCH_EVERY


def touch(session: Session, hashed: str, now: datetime) -> None:
    cs = session.get(ConsoleSession, hashed)
    if cs is not None:
        cs.last_seen_at = now


def end_session(session: Session, hashed: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == hashed))


def sweep(session: Session, now: datetime) -> int:
    """Delete sessions past their expiry (sign-in calls it; nothing else needs them)."""
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


# -- request dependencies ----------------------------------------------------------------


def current_engineer(request: Request) -> Signed:
    """The signed-in engineer, or ``SignInNeeded`` (the page becomes the sign-in form)."""
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 200:
        raise SignInNeeded
    db, now, conf = _db(request), _now(request), settings(request)
    with db.reading() as session:
        found = lookup(session, token, now, conf)
    if found is None:
        raise SignInNeeded
    signed, stale = found
    if stale:
        with db.writing() as session:
            touch(session, signed.token_hash, now)
    request.state.console_engineer = signed
    return signed


Me = Annotated[Signed, Depends(current_engineer)]


def manager(me: Me) -> Signed:
    if not me.is_manager:
        raise FormRefused("Only a manager can do this; ask a manager of the desk.", 403)
    return me


Manager = Annotated[Signed, Depends(manager)]


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (the last value of a name)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise FormRefused("The console takes only its own forms; reload the page and retry.", 400)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise FormRefused("That form is too large; shorten the text and retry.", 413)
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise FormRefused("The form was not UTF-8; reload the page and retry.", 400) from exc
    return {name: values[-1] for name, values in parsed.items()}


def csrf_ok(form: dict[str, str], me: Signed) -> bool:
    return hmac.compare_digest(form.get("csrf", "").encode(), me.csrf.encode())


async def checked_form(request: Request, me: Me) -> dict[str, str]:
    """The POSTed form, refused (403) unless it carries this session's CSRF token."""
    form = await read_form(request)
    if not csrf_ok(form, me):
        raise FormRefused(
            "This form did not come from your console page (its security token is missing "
            "or wrong); reload the page and try again."
        )
    return form


Form = Annotated[dict[str, str], Depends(checked_form)]


def cookie_secure(request: Request) -> bool:
    """The Secure flag of the console's cookies: as configured, else whether it is https."""
    secure = settings(request).secure_cookie
    return request.url.scheme == "https" if secure is None else secure


def set_cookie(response: Response, request: Request, token: str) -> None:
    conf = settings(request)
    secure = cookie_secure(request)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(conf.session_hours * 3600),
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")


def install_auth(app: FastAPI) -> None:
    """The app-wide parts: settings, the sign-in throttle, and the two refusals as pages."""
    if not isinstance(getattr(app.state, "console_settings", None), ConsoleSettings):
        app.state.console_settings = getattr(app.state.config, "console", ConsoleSettings())
    conf: ConsoleSettings = app.state.console_settings
    app.state.console_throttle = FailureThrottle(conf.signin_failures, conf.signin_window_s)

    async def _sign_in(request: Request, _exc: Exception) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method != "GET":
            target = "/console/"
        response = RedirectResponse(f"/console/signin?next={quote(target, safe='')}", 303)
        if request.cookies.get(COOKIE):
            clear_cookie(response)
        return response

    async def _refused(request: Request, exc: Exception) -> Response:
        from vxassist.desk.console.render import page

        assert isinstance(exc, FormRefused)
        return page(
            request,
            "message.html",
            status_code=exc.status,
            heading="Refused",
            sentence=exc.sentence,
            back=request.headers.get("referer", "/console/")
            if request.headers.get("referer", "").startswith(str(request.base_url))
            else "/console/",
        )

    app.add_exception_handler(SignInNeeded, _sign_in)
    app.add_exception_handler(FormRefused, _refused)
