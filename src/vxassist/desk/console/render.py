"""Jinja2 enters the console here: one environment, autoescaped, and the page helpers.

Every value a template prints is escaped (autoescape on for every file); Markdown
reaches a page only through ``vxassist.desk.markdown.render`` (the ``markdown``
filter), which sanitises it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from vxassist.cases.fields import PRIORITY_LABELS
from vxassist.desk.casework import STATUS_LABELS
from vxassist.desk.console.auth import cookie_secure

FLASH_COOKIE = "vx_console_flash"

TEMPLATES = Path(__file__).resolve().parent / "templates"

PRIORITY_NAMES = {int(p): f"P{int(p)} {label}" for p, label in PRIORITY_LABELS.items()}


def _when(value: datetime | None) -> str:
    """A time as engineers read it in the queue: UTC, to the minute."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def time_left(due: datetime, now: datetime) -> str:
    """``3 h 20 min left`` or ``breached 2 h 5 min ago``."""
    delta = due - now
    late = delta < timedelta(0)
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {mins} min"
    else:
        text = f"{mins} min"
    return f"breached {text} ago" if late else f"{text} left"


def _plain(value: Any) -> str:
    """A report value as people read it: yes/no, 8,589,934,592, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)


def _markdown(text: str) -> Markup:
    from vxassist.desk.markdown import render  # sanitising renderer (the one place)

    return Markup(render(text))


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        extensions=["jinja2.ext.do"],
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["markdown"] = _markdown
    env.filters["plain"] = _plain
    env.globals["PRIORITY_NAMES"] = PRIORITY_NAMES
    env.globals["STATUS_NAMES"] = STATUS_LABELS
    env.globals["time_left"] = time_left
    return env


ENV = _environment()


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` for ``request`` (the signed-in engineer, if any, as ``me``)."""
    context.setdefault("me", getattr(request.state, "console_engineer", None))
    flash = _read_flash(request)
    context.setdefault("flash", flash[0])
    context.setdefault("problem", flash[1])
    context["request"] = request
    html = ENV.get_template(template).render(**context)
    response = HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            "Content-Security-Policy": (
                "default-src 'self'; style-src 'self'; img-src 'self' data:; "
                "script-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
            ),
        },
    )
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/console")
    return response


def _read_flash(request: Request) -> tuple[str, str]:
    """The sentence the last action left for the next page: (done, problem)."""
    raw = request.cookies.get(FLASH_COOKIE, "")
    kind, _, text = unquote(raw).partition(":")
    text = text[:1000]
    return (text, "") if kind == "done" else ("", text) if kind == "problem" else ("", "")


def redirect(
    request: Request, target: str, *, done: str = "", problem: str = ""
) -> RedirectResponse:
    """See ``target`` (POST, then GET), with a sentence about what just happened.

    The sentence travels in a short-lived cookie, not the address: a link cannot
    make the console say something it did not.
    """
    response = RedirectResponse(target, 303)
    if done or problem:
        value = ("problem:" + problem) if problem else ("done:" + done)
        response.set_cookie(
            FLASH_COOKIE,
            quote(value[:1000], safe=""),
            max_age=60,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=cookie_secure(request),
        )
    return response
