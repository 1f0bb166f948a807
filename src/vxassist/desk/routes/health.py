"""Liveness: answers without touching the database."""

from __future__ import annotations

from fastapi import APIRouter, Response

from vxassist.desk.schemas import Health

router = APIRouter(tags=["health"])
_OK = b'{"status":"ok"}'


@router.get("/healthz", response_model=Health)
@router.get("/api/v1/healthz", response_model=Health)
async def healthz() -> Response:
    return Response(content=_OK, media_type="application/json")
