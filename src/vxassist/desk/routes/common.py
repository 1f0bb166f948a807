"""What the route modules share: the clock, the configuration, error documentation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import Request, Response

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
