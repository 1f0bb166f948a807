"""Update requests in the console: every host's patch and upgrade requests, those
waiting first, each with the form that answers it (``vxassist.desk.updates``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vxassist.desk import updates
from vxassist.desk.console import auth
from vxassist.desk.console.render import page, redirect
from vxassist.desk.db import Database
from vxassist.desk.errors import DeskError

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE = "/console/update-requests"


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


@router.get("/update-requests")
def listing(request: Request, me: auth.Me) -> Response:
    status = request.query_params.get("status") or None
    if status not in (None, *updates.STATUSES):
        status = None
    with _db(request).reading() as session:
        found = updates.list_for_engineer(session, status)
    return page(
        request, "updates/list.html", requests=found, status=status, statuses=updates.STATUSES
    )


@router.post("/update-requests/{raw_id}/answer")
def answer(raw_id: str, request: Request, me: auth.Me, form: auth.Form) -> Response:
    if not raw_id.isdecimal() or not 0 < int(raw_id[:10]) < 2**31:
        return redirect(request, PAGE, problem=f"There is no update request {raw_id[:20]}.")
    now = request.app.state.clock()
    status = "closed" if form.get("status") == "closed" else "answered"
    try:
        with _db(request).writing() as session:
            done = updates.answer(
                session,
                int(raw_id),
                me.name,
                form.get("answer", ""),
                now,
                form.get("download_url") or None,
                status,
            )
    except DeskError as exc:
        return redirect(request, PAGE, problem=exc.message)
    return redirect(request, PAGE, done=f"Update request {done['id']} {done['status']}.")
