"""The web console's settings: ``[console]`` in desk.toml.

::

    [console]
    session_hours = 12          # a sign-in lasts this long at most
    idle_minutes = 60           # and ends after this long without a request
    secure_cookie = "auto"      # true, false, or "auto": Secure when the request came over https
    signin_failures = 5         # failed sign-ins per source (and per name) before a wait
    signin_window_s = 300

Behind a TLS-terminating proxy that does not pass ``X-Forwarded-Proto``, set
``secure_cookie = true``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vxassist.errors import ConfigError


@dataclass(frozen=True)
class ConsoleConfig:
    """How console sign-ins behave."""

    #: a session ends this long after sign-in, whatever happens
    session_hours: float = 12.0
    #: and after this long without a request
    idle_minutes: float = 60.0
    #: the cookie's Secure flag; None: set it when the request came over https
    secure_cookie: bool | None = None
    #: failed sign-ins one source (or one name) may make per window before it must wait
    signin_failures: int = 5
    signin_window_s: float = 300.0


def _bad(key: str, where: Path, what: str) -> ConfigError:
    return ConfigError(f"console.{key} in {where} {what}; fix the file and try again.")


def console_config_from_mapping(data: Mapping[str, Any], where: Path) -> ConsoleConfig:
    section = data.get("console", {})
    if not isinstance(section, Mapping):
        raise ConfigError(f"[console] in {where} must be a table; fix the file and try again.")
    base = ConsoleConfig()
    secure = section.get("secure_cookie", "auto")
    if secure == "auto":
        secure_cookie: bool | None = None
    elif isinstance(secure, bool):
        secure_cookie = secure
    else:
        raise _bad("secure_cookie", where, 'must be true, false or "auto"')

    def positive(key: str, default: float) -> float:
        value = section.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise _bad(key, where, "must be a number above 0")
        return float(value)

    return ConsoleConfig(
        session_hours=positive("session_hours", base.session_hours),
        idle_minutes=positive("idle_minutes", base.idle_minutes),
        secure_cookie=secure_cookie,
        signin_failures=int(positive("signin_failures", base.signin_failures)),
        signin_window_s=positive("signin_window_s", base.signin_window_s),
    )
