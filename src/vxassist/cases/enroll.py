"""Enrollment: register this host with a support desk using a one-time code.

The desk answers with a token (kept in the secret store as ``desk-token``) and
facts about the enrollment (agent id, contract, company and, for remote
sessions, certificates and the relay); everything but the token is written
verbatim to ``enrollment.json`` in the data folder.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from vxassist.cases.intake import TOKEN_SECRET
from vxassist.cases.model import CaseError
from vxassist.deskclient import DeskClient, DeskUnavailable
from vxassist.paths import Paths
from vxassist.secrets import SecretStore
from vxassist.settings import load_settings, update_user_settings

log = logging.getLogger(__name__)


class EnrollError(CaseError):
    """Enrollment could not be completed."""


def enrollment_file(paths: Paths) -> Any:
    return paths.data_dir / "enrollment.json"


def host_public_key(paths: Paths) -> tuple[str | None, str]:
    """This host's SSH public key line, and why there is none when there is none."""
    try:
        hostkey = importlib.import_module("vxassist.remote.hostkey")
        ensure = hostkey.ensure_host_key
    except (ImportError, AttributeError) as exc:
        log.info("no host key module: %r", exc)
        return None, "remote sessions are not available in this version"
    key = ensure(paths)
    return (str(key).strip() or None), ""


@dataclass(frozen=True)
class Enrollment:
    desk_url: str
    facts: dict[str, Any]
    host_key_note: str


def read_enrollment(paths: Paths) -> dict[str, Any]:
    try:
        data = json.loads(enrollment_file(paths).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise EnrollError(
            f"{enrollment_file(paths)} cannot be read; enroll this host again.",
            detail=repr(exc),
        ) from exc
    return data if isinstance(data, dict) else {}


def enroll(
    paths: Paths,
    secrets: SecretStore,
    desk_url: str,
    code: str,
    hostname: str | None = None,
    timeout: float = 30.0,
) -> Enrollment:
    """Enroll with ``code`` at ``desk_url``; store token, address and the desk's facts."""
    code = code.strip()
    if not code:
        raise EnrollError("Give the enrollment code you received from support with --code.")
    machine_desk = load_settings(paths).machine_desk_url
    if machine_desk and desk_url.strip().rstrip("/") != machine_desk:
        raise EnrollError(
            f"This computer's administrator set the support desk to {machine_desk}; "
            f"enroll with --desk {machine_desk}.",
            detail=f"asked for {desk_url!r}",
        )
    client = DeskClient(desk_url, None, timeout=timeout)
    key, note = host_public_key(paths)
    with client:
        answer = client.enroll(code, hostname or socket.gethostname(), key)
    token = answer.get("token")
    if not isinstance(token, str) or not token:
        raise DeskUnavailable(
            f"The desk at {client.base_url} answered without a token; try again later "
            "or ask support.",
            detail=f"enroll answer keys {sorted(answer)}",
        )
    secrets.set(TOKEN_SECRET, token)
    facts = {k: v for k, v in answer.items() if k != "token"}
    target = enrollment_file(paths)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(facts, fh, indent=2, ensure_ascii=False)
    tmp.replace(target)
    update_user_settings(paths, {"desk_url": client.base_url})
    log.info("enrolled with %s as agent %s", client.base_url, facts.get("agent_id"))
    return Enrollment(client.base_url, facts, note)
