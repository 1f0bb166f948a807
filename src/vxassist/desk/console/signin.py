"""Signing in and out of the console, and its one stylesheet."""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from vxassist.desk.console import auth
from vxassist.desk.console.render import page, redirect
from vxassist.desk.db import Database
from vxassist.desk.models import Engineer
from vxassist.desk.passwords import DUMMY_HASH, verify_password
from vxassist.desk.throttle import FailureThrottle

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)

#: a cookie + hidden field pair that ties the sign-in form to this browser (login CSRF)
PRE_COOKIE = "vx_console_pre"
CSS = (Path(__file__).resolve().parent / "static" / "console.css").read_bytes()


def _safe_next(target: str) -> str:
    """Only a console path: never another site after signing in."""
    if target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


def _signin_page(request: Request, next_: str, problem: str = "", status: int = 200) -> Response:
    pre = secrets.token_urlsafe(24)
    response = page(
        request,
        "signin.html",
        status_code=status,
        me=None,
        next=_safe_next(next_),
        pre=pre,
        problem=problem,
        name=request.query_params.get("name", ""),
    )
    response.set_cookie(
        PRE_COOKIE,
        pre,
        max_age=3600,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=auth.cookie_secure(request),
    )
    return response


@router.get("/static/console.css")
def stylesheet() -> Response:
    return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/signin")
def signin_form(request: Request, next: str = "/console/") -> Response:
    return _signin_page(request, next)


Form = Annotated[dict[str, str], Depends(auth.read_form)]


@router.post("/signin")
def signin(request: Request, form: Form) -> Response:
    next_ = _safe_next(form.get("next", "/console/"))
    pre = request.cookies.get(PRE_COOKIE, "")
    if not pre or not hmac.compare_digest(pre.encode(), form.get("pre", "").encode()):
        return _signin_page(
            request,
            next_,
            "The sign-in form had expired or came from another page; sign in again here.",
            403,
        )
    name = form.get("name", "").strip()[:100]
    password = form.get("password", "")
    source = request.client.host if request.client else "?"
    throttle: FailureThrottle = request.app.state.console_throttle
    mono = time.monotonic()
    wait = throttle.retry_after(source, mono) or throttle.retry_after("name:" + name, mono)
    if wait is not None:
        return _signin_page(
            request,
            next_,
            f"Too many failed sign-ins; wait {int(wait) + 1} seconds and try again.",
            429,
        )
    db: Database = request.app.state.db
    now = request.app.state.clock()
    conf = auth.settings(request)
    with db.reading() as session:
        engineer = session.scalar(select(Engineer).where(Engineer.name == name))
        stored = engineer.password_hash if engineer is not None else None
    if not verify_password(password, stored or DUMMY_HASH) or stored is None or engineer is None:
        throttle.failed(source, mono)
        throttle.failed("name:" + name, mono)
        log.info("console sign-in refused for %r from %s", name, source)
        return _signin_page(
            request,
            next_,
            "That name and password do not match an engineer with console access; "
            "check both, or ask a manager to set your password.",
            401,
        )
    with db.writing() as session:
        auth.sweep(session, now)
        fresh = session.get(Engineer, engineer.engineer_id)
        if fresh is None:  # removed between the two transactions
            return _signin_page(request, next_, "That engineer was just removed.", 401)
        token = auth.start_session(session, fresh, now, conf)
    log.info("console sign-in: %s from %s", name, source)
    response = RedirectResponse(next_, 303)
    auth.set_cookie(response, request, token)
    response.delete_cookie(PRE_COOKIE, path="/console")
    return response


@router.post("/signout")
def signout(request: Request, me: auth.Me, form: auth.Form) -> Response:
    db: Database = request.app.state.db
    with db.writing() as session:
        auth.end_session(session, me.token_hash)
    response = redirect(request, "/console/signin", done="Signed out.")
    auth.clear_cookie(response)
    return response
