"""The web console for engineers and managers: server-rendered pages over the desk's
service layer (casework for cases, admin for contracts and engineers).

``router`` gathers the console's page modules (``CONSOLE_ROUTERS``); the desk
mounts it like its API routers, and ``install`` adds what the pages need app-wide
(the sign-in redirect and the refusal pages).
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter, FastAPI

from vxassist.desk.console.auth import install_auth

#: the console's page modules, each with a ``router``; kb: the knowledge-base editor
CONSOLE_ROUTERS: tuple[str, ...] = (
    "vxassist.desk.console.signin",
    "vxassist.desk.console.pages",
    "vxassist.desk.console.case",
    "vxassist.desk.console.manage",
    "vxassist.desk.console.kb",
    "vxassist.desk.console.update_requests",
)

router = APIRouter()
for _name in CONSOLE_ROUTERS:
    _module: Any = importlib.import_module(_name)
    router.include_router(_module.router)


def install(app: FastAPI) -> None:
    install_auth(app)
