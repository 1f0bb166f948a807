"""Jinja2 enters the console here: one environment, autoescaped, and the page helpers.

Every value a template prints is escaped (autoescape on for every file); Markdown
reaches a page only through ``vxassist.desk.markdown.render`` (the ``markdown``
filter), which sanitises it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

TEMPLATES = Path(__file__).resolve().parent / "templates"

PRIORITY_NAMES = {1: "P1 critical", 2: "P2 major", 3: "P3 minor", 4: "P4 request"}
STATUS_NAMES = {
    "open": "new",
    "new": "new",
    "in_progress": "in progress",
    "waiting_customer": "waiting on customer",
    "resolved": "resolved",
    "closed": "closed",
}


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


def _markdown(text: str) -> Markup:
    from vxassist.desk.markdown import render  # sanitising renderer (the one place)

    return Markup(render(text))


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["markdown"] = _markdown
    env.globals["PRIORITY_NAMES"] = PRIORITY_NAMES
    env.globals["STATUS_NAMES"] = STATUS_NAMES
    env.globals["time_left"] = time_left
    return env


ENV = _environment()


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` for ``request`` (the signed-in engineer, if any, as ``me``)."""
    context.setdefault("me", getattr(request.state, "console_engineer", None))
    context.setdefault("flash", request.query_params.get("done", ""))
    context["request"] = request
    html = ENV.get_template(template).render(**context)
    return HTMLResponse(
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
