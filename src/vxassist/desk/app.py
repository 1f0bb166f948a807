"""The desk's application factory.

``create_app(db_url, config)`` upgrades the database to the newest schema (unless
told not to), opens one engine for the process, mounts every router listed in
``vxassist.desk.routes.ROUTERS`` and turns every refusal into
``{"detail": {"code": ..., "message": ...}}``.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vxassist import __version__
from vxassist.cases.fields import Priority
from vxassist.cases.sla import response_due
from vxassist.desk import notify
from vxassist.desk.auth import CallerCache
from vxassist.desk.config import DeskConfig
from vxassist.desk.db import Database, upgrade
from vxassist.desk.deadlines import DeadlineWatcher
from vxassist.desk.errors import DeskError
from vxassist.desk.jsonbody import JsonGuard
from vxassist.desk.mailout import MailSender, warn_if_off
from vxassist.desk.release import enrollment_extra
from vxassist.desk.routes import ROUTERS
from vxassist.desk.throttle import FailureThrottle

log = logging.getLogger(__name__)

_HTTP_CODES = {
    404: ("not_found", "There is no such address on the desk; check the URL and API version."),
    405: ("method_not_allowed", "This address does not take that method; see /docs."),
    413: ("body_too_large", "The request is too large; remove large attachments and retry."),
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BodyLimit:
    """Refuse bodies larger than ``limit`` bytes, in the desk's error shape.

    A declared length is checked before reading; a body sent without one
    (chunked) is read up to the limit first, then handed on.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        code, message = _HTTP_CODES[413]
        response = JSONResponse({"detail": {"code": code, "message": message}}, status_code=413)
        await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(scope, receive, send)
                return
            if name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if not chunked:
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body = message.get("body", b"")
            seen += len(body)
            if seen > self.limit:
                await self._refuse(scope, receive, send)
                return
            parts.append(body)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(parts), "more_body": False}
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return whole

        await self.app(scope, replay, send)


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods the document lists at ``path`` (Starlette names only the first route's)."""
    methods: set[str] = set()
    for template, operations in app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def _tell_the_truth(document: dict[str, Any]) -> dict[str, Any]:
    """What FastAPI's generated document leaves out or gets wrong about the desk.

    - every body-taking operation can answer 400 ``body_not_json`` (``JsonGuard``) and
      413 (``BodyLimit``); every operation that reads the database, 503 ``desk_busy``
      with ``Retry-After``;
    - a new case needs an ``Idempotency-Key`` (the route answers 400 without one, with
      a sentence, rather than FastAPI's 422, so the parameter is optional in code);
    - a query parameter is never JSON ``null``: an optional one is simply left out;
    - a validation answer always has its ``detail`` list.
    """
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "requestBody" in operation:
                responses.setdefault(
                    "400",
                    {
                        "description": "The body is not JSON (code body_not_json)",
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
                responses.setdefault(
                    "413",
                    {
                        "description": "The body is larger than the desk takes (body_too_large)",
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
            if not path.endswith("/healthz"):
                responses.setdefault(
                    "503",
                    {
                        "description": "The database cannot answer now (desk_busy); retry later",
                        "headers": {
                            "Retry-After": {
                                "description": "seconds to wait before retrying",
                                "schema": {"type": "integer", "minimum": 1},
                            }
                        },
                        "content": {"application/json": {"schema": error_ref}},
                    },
                )
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                options = schema.get("anyOf")
                if parameter.get("in") == "query" and options and {"type": "null"} in options:
                    rest = [o for o in options if o != {"type": "null"}]
                    if len(rest) == 1:
                        del schema["anyOf"]
                        schema.update(rest[0])
                if (
                    path == "/api/v1/cases"
                    and method == "post"
                    and parameter.get("name") == "Idempotency-Key"
                ):
                    parameter["required"] = True
                    parameter["schema"] = {k: v for k, v in schema.items() if k != "anyOf"} | {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 200,
                    }
    schemas = document.get("components", {}).get("schemas", {})
    if "HTTPValidationError" in schemas:
        schemas["HTTPValidationError"]["required"] = ["detail"]
    return document


def create_app(
    db_url: str,
    config: DeskConfig | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    migrate: bool = True,
    background_checkpoints: bool = False,
) -> FastAPI:
    """The desk as an ASGI app over the database at ``db_url``.

    ``background_checkpoints``: on SQLite, a thread checkpoints the write-ahead
    log, not the request that happens to commit past its limit (the server's choice).
    """
    config = config or DeskConfig()
    if migrate:
        upgrade(db_url)
    db = Database(db_url, background_checkpoints=background_checkpoints)
    clock = clock or _utcnow
    # Load the support calendar (its holidays) now, not in the first customer's request.
    response_due(max(Priority), clock(), config.calendar)

    notify.configure(db_url, config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # E-mail notifications: the outbox's sender and the deadline watcher, off the
        # requests; without [mail] one warning now, and no mail is written.
        sender = MailSender(db, config.mail, clock) if warn_if_off(config.mail) else None
        watcher = DeadlineWatcher(db, config, clock)
        app.state.mail_sender, app.state.deadline_watcher = sender, watcher
        if sender is not None:
            sender.start()
        watcher.start()
        try:
            yield
        finally:
            await watcher.stop()
            if sender is not None:
                await sender.stop()
            db.dispose()

    app = FastAPI(
        title="vxassist desk",
        version=__version__,
        description="Case intake, contracts and enrollment for vxassist agents (API v1).",
        lifespan=lifespan,
    )
    app.state.db = db

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _tell_the_truth(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.state.callers = CallerCache()
    app.state.config = config
    app.state.clock = clock
    app.state.enrollment_extras = [enrollment_extra(config.updates)]
    app.state.enrollment_throttle = FailureThrottle(
        config.enrollment_failures, config.enrollment_window_s
    )

    @app.exception_handler(DeskError)
    async def _desk_error(_request: Request, exc: DeskError) -> JSONResponse:
        headers = dict(exc.headers)
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if exc.status == 503:
            headers.setdefault("Retry-After", "60")  # every busy answer says when to retry
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, message = _HTTP_CODES.get(
            exc.status_code, ("http_error", "The desk refused this request; check it and retry.")
        )
        headers = dict(getattr(exc, "headers", None) or {})
        allowed = _allowed_methods(app, request.url.path) if exc.status_code == 405 else []
        if allowed:  # else (a path outside the document) Starlette's own Allow stands
            headers["Allow"] = ", ".join(allowed)
        return JSONResponse(
            {"detail": {"code": code, "message": message}},
            status_code=exc.status_code,
            headers=headers or None,
        )

    async def _db_down(_request: Request, exc: Exception) -> JSONResponse:
        log.error("database error: %s", exc)
        return JSONResponse(
            {
                "detail": {
                    "code": "desk_busy",
                    "message": "The desk cannot reach its database right now; retry in a minute.",
                }
            },
            status_code=503,
            headers={"Retry-After": "60"},
        )

    # Through SQLAlchemy, and from the driver itself (the create path runs on the driver's
    # connection): a lost server, a lock wait that ran out, a full disk.
    dbapi = db.engine.dialect.loaded_dbapi
    for unavailable in (OperationalError, dbapi.OperationalError, dbapi.InterfaceError):
        app.add_exception_handler(unavailable, _db_down)

    for name in ROUTERS:
        module: Any = importlib.import_module(name)
        app.include_router(module.router)
        # a router module may also wire app-level parts (e.g. enrollment extras)
        install = getattr(module, "install", None)
        if install is not None:
            install(app)
    app.add_middleware(JsonGuard)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    return app
