"""The console's pages for every engineer: the queue, a case, the dashboard."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from vxassist.desk.console import auth, dashboard
from vxassist.desk.console.queue import OPEN_STATUSES, QueueFilter, queue
from vxassist.desk.console.render import page
from vxassist.desk.db import Database
from vxassist.desk.models import Engineer

router = APIRouter(prefix="/console", include_in_schema=False)


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


@router.get("")
def console_root() -> Response:
    return RedirectResponse("/console/", 307)


@router.get("/")
def queue_page(request: Request, me: auth.Me) -> Response:
    wanted = QueueFilter.from_query(request.query_params)
    now = request.app.state.clock()
    with _db(request).reading() as session:
        found = queue(session, wanted, now)
        engineers = list(session.scalars(select(Engineer.name).order_by(Engineer.name)))
    return page(
        request,
        "queue.html",
        q=found,
        wanted=wanted,
        now=now,
        statuses=OPEN_STATUSES,
        engineers=engineers,
    )


@router.get("/dashboard")
def dashboard_page(request: Request, me: auth.Me) -> Response:
    now = request.app.state.clock()
    with _db(request).reading() as session:
        found = dashboard.figures(session, now, request.app.state.config.calendar)
    return page(
        request,
        "dashboard.html",
        d=found,
        median=dashboard.duration_text(found.median_first_response),
        median_days=dashboard.MEDIAN_DAYS,
    )
