"""What the route modules share: the clock, the configuration, error documentation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError

from vxassist.desk.config import DeskConfig
from vxassist.desk.schemas import ErrorOut

JSON = "application/json"


def now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def config(request: Request) -> DeskConfig:
    cfg: DeskConfig = request.app.state.config
    return cfg


def json_response(status: int, body: bytes) -> Response:
    return Response(content=body, status_code=status, media_type=JSON)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the desk's own error answers."""
    return {code: {"model": ErrorOut} for code in codes}


def refuse_unknown_query(request: Request, known: set[str]) -> None:
    """A 422 naming each query parameter the route does not take: a misspelt filter
    (``?stauts=open``) must not silently answer everything."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": "Extra inputs are not permitted",
                    "input": request.query_params[name],
                }
                for name in unknown
            ]
        )
