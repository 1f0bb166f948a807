"""The engineer's desk account: address in ``engineer.toml``, token in the secret store.

``engineer_client`` is what every engineer command uses to reach the desk.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vxassist.deskclient import DEFAULT_TIMEOUT_S, DeskClient
from vxassist.errors import VxError
from vxassist.paths import Paths
from vxassist.secrets import SecretStore
from vxassist.settings import write_toml

TOKEN_SECRET = "engineer-token"


class EngineerError(VxError):
    """An engineer command that cannot go on."""


class NotLoggedIn(EngineerError):
    """No desk address or token for the engineer yet."""


@dataclass(frozen=True)
class EngineerConfig:
    desk_url: str = ""
    name: str = ""


def config_file(paths: Paths) -> Path:
    return paths.config_dir / "engineer.toml"


def load_config(paths: Paths) -> EngineerConfig:
    path = config_file(paths)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return EngineerConfig()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EngineerError(
            f"{path} cannot be read; remove it and run `vxassist engineer login` again.",
            detail=repr(exc),
        ) from exc
    return EngineerConfig(desk_url=str(data.get("desk_url", "")), name=str(data.get("name", "")))


def save_config(paths: Paths, config: EngineerConfig) -> None:
    write_toml(config_file(paths), {"desk_url": config.desk_url, "name": config.name})


def engineer_client(
    paths: Paths, secrets: SecretStore, timeout: float = DEFAULT_TIMEOUT_S
) -> DeskClient:
    """A desk client with the engineer's token, or ``NotLoggedIn`` saying what to do."""
    config = load_config(paths)
    token = secrets.get(TOKEN_SECRET) if config.desk_url else None
    if not config.desk_url or not token:
        raise NotLoggedIn(
            "You are not logged in to a desk as an engineer; run "
            "`vxassist engineer login --desk URL` with your engineer token.",
            detail=f"desk_url={config.desk_url!r} token={'yes' if token else 'no'}",
        )
    return DeskClient(config.desk_url, token, timeout=timeout)


def login(paths: Paths, secrets: SecretStore, desk_url: str, token: str) -> dict[str, Any]:
    """Check ``token`` with the desk; keep address and token only if it is an engineer's."""
    token = token.strip()
    if not token:
        raise EngineerError(
            "The token is empty; paste the token `vxassist desk engineer add` printed for you."
        )
    with DeskClient(desk_url, token) as client:
        who = client.whoami()
        base_url = client.base_url
    if who.get("kind") != "engineer":
        raise EngineerError(
            "This token belongs to a host, not to an engineer; use the token from "
            "`vxassist desk engineer add NAME`.",
            detail=f"whoami kind={who.get('kind')!r}",
        )
    save_config(paths, EngineerConfig(desk_url=base_url, name=str(who.get("name", ""))))
    secrets.set(TOKEN_SECRET, token)
    return {"desk_url": base_url, **who}
