"""What happens to a case after intake: the one service layer of the API, the CLI
and the web console.

Every function takes an ORM session (the caller's transaction) and the time, and
every change to a case ends in :func:`record`, which writes the event of the
thread and tells whoever must hear of it (in the same transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from vxassist.desk import notify
from vxassist.desk.models import Case, CaseEvent

Visibility = Literal["customer", "internal"]
AuthorKind = Literal["host", "engineer", "desk"]


def record(
    session: Session,
    case: Case,
    now: datetime,
    *,
    kind: str,
    author: str,
    author_kind: AuthorKind,
    text: str,
    visibility: Visibility = "customer",
    system_report: dict[str, Any] | None = None,
) -> CaseEvent:
    """Write one event of the case's thread; the end of every change to a case."""
    event = CaseEvent(
        case_id=case.id,
        at=now,
        kind=kind,
        author=author,
        author_kind=author_kind,
        visibility=visibility,
        text=text,
        system_report=system_report,
    )
    session.add(event)
    case.updated_at = now
    session.flush()
    notify.on_case_event(session, case, event, now)
    return event
