"""The desk's HTTP routes, one module per concern; ``create_app`` mounts them all.

Adding an area (e.g. remote sessions) means adding its module to ``ROUTERS``.
"""

from __future__ import annotations

#: modules with a ``router`` (an ``APIRouter``), mounted in this order
ROUTERS: tuple[str, ...] = (
    "vxassist.desk.routes.health",
    "vxassist.desk.routes.enroll",
    "vxassist.desk.routes.cases",
    "vxassist.desk.routes.engineer",
    "vxassist.desk.routes.kb",
    "vxassist.desk.routes.updates",
    "vxassist.desk.sessions.routes",
    "vxassist.desk.console",
)
