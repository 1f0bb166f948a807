"""User settings (TOML) and the machine policy that caps them.

The policy file is written by an administrator; the user's settings can only
tighten what it allows, never loosen it. A policy file that a non-administrator
could have written is not trusted: the agent then falls back to the most
restrictive policy (remote access off) and says why in the log.
"""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vxassist.errors import ConfigError
from vxassist.paths import Paths

log = logging.getLogger(__name__)

ALL_SCOPES = frozenset({"shell", "files", "forward"})


@dataclass(frozen=True)
class RemotePolicy:
    """What remote access this machine allows at most."""

    enabled: bool = True
    scopes: frozenset[str] = ALL_SCOPES
    max_minutes: int = 120
    #: unattended access exists only when an administrator enables it
    unattended: bool = False
    consent_timeout_s: int = 120
    #: folders the ``files`` scope may reach; empty = the user's home folder
    file_roots: tuple[str, ...] = ()
    #: local services a ``forward`` scope may reach, as HOST:PORT
    forward_targets: tuple[str, ...] = ("127.0.0.1:3389",)
    #: the unprivileged account sessions run as when the agent runs as root
    #: (machine policy only; an agent that is not root runs them as itself)
    session_account: str = "vxsession"
    #: a root agent may give a root shell only when the machine policy says so
    allow_root_session: bool = False

    def tightened_by(self, other: RemotePolicy) -> RemotePolicy:
        """The stricter of the two, field by field; the session's account is the machine's."""
        return RemotePolicy(
            enabled=self.enabled and other.enabled,
            scopes=self.scopes & other.scopes,
            max_minutes=min(self.max_minutes, other.max_minutes),
            unattended=self.unattended and other.unattended,
            consent_timeout_s=min(self.consent_timeout_s, other.consent_timeout_s),
            file_roots=_narrow(self.file_roots, other.file_roots),
            forward_targets=tuple(t for t in self.forward_targets if t in other.forward_targets),
            session_account=self.session_account,
            allow_root_session=self.allow_root_session,
        )


LOCKED_DOWN = RemotePolicy(enabled=False, scopes=frozenset(), max_minutes=0, forward_targets=())


def _narrow(policy_roots: tuple[str, ...], user_roots: tuple[str, ...]) -> tuple[str, ...]:
    """User roots that lie inside a policy root (or the policy's, if the user names none)."""
    if not user_roots:
        return policy_roots
    if not policy_roots:
        return user_roots
    kept = []
    for root in user_roots:
        resolved = Path(root).resolve()
        if any(resolved.is_relative_to(Path(p).resolve()) for p in policy_roots):
            kept.append(root)
    return tuple(kept)


@dataclass(frozen=True)
class SupportContact:
    """The vendor's channels; defaults from the support policy, never literals elsewhere."""

    email: str = "support@communicado-inc.com"
    phone: str = "(866) 489-8722, option 2"
    website: str = ""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    username: str = ""
    sender: str = ""
    timeout_s: float = 15.0


@dataclass(frozen=True)
class Settings:
    #: the desk this agent talks to: the machine policy's ``[desk] url`` when it names
    #: one, else the user's ``desk_url`` (written by ``vxassist enroll``)
    desk_url: str = ""
    support: SupportContact = field(default_factory=SupportContact)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    #: how long the outbox retries the desk before falling back to e-mail
    outbox_retry_window_s: int = 6 * 3600
    #: "keyring" (the OS keyring) or "file" (a 0600 file under the data folder)
    secrets_backend: str = "keyring"
    anonymize_by_default: bool = False
    remote: RemotePolicy = field(default_factory=RemotePolicy)
    #: the machine policy's own sections, for areas that read them (e.g. sysinfo rules)
    policy_extra: Mapping[str, Any] = field(default_factory=dict)
    log_level: str = "INFO"
    #: the desk address the machine policy sets (``[desk] url``); "" when it sets none
    machine_desk_url: str = ""


def _read_toml(path: Path, what: str = "settings file") -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"The {what} {path} is not valid TOML; fix or remove it and try again.",
            detail=str(exc),
        ) from exc
    except OSError as exc:
        if what == "machine policy":
            raise ConfigError(
                f"The machine policy {path} cannot be read by this account; ask an "
                "administrator to make it readable by all (owned by root, mode 0644).",
                detail=str(exc),
            ) from exc
        raise ConfigError(
            f"The {what} {path} cannot be read; check its permissions.",
            detail=str(exc),
        ) from exc


def policy_file_trusted(path: Path) -> tuple[bool, str]:
    """Whether only an administrator can have written ``path``."""
    if os.name == "nt":
        # owner and access list, as the installer sets them (vxassist/winacl.py)
        from vxassist.winacl import only_administrators_can_change

        return only_administrators_can_change(path)
    try:
        st = path.stat()
    except OSError as exc:
        return False, f"cannot stat {path}: {exc}"
    if st.st_uid != 0:
        return False, f"{path} is owned by uid {st.st_uid}, not root"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return False, f"{path} is writable by group or others"
    return True, ""


def _remote_from(
    data: Mapping[str, Any], where: Path, base: RemotePolicy | None = None
) -> RemotePolicy:
    """A ``[remote]`` table over ``base``: a key it leaves out keeps the base's value."""
    base = base or RemotePolicy()
    try:
        return replace(
            base,
            enabled=bool(data.get("enabled", base.enabled)),
            scopes=frozenset(str(s) for s in data.get("scopes", base.scopes)) & ALL_SCOPES,
            max_minutes=int(data.get("max_minutes", base.max_minutes)),
            unattended=bool(data.get("unattended", base.unattended)),
            consent_timeout_s=int(data.get("consent_timeout_s", base.consent_timeout_s)),
            file_roots=tuple(str(r) for r in data.get("file_roots", base.file_roots)),
            forward_targets=tuple(
                str(t) for t in data.get("forward_targets", base.forward_targets)
            ),
            session_account=str(data.get("session_account", base.session_account)),
            allow_root_session=bool(data.get("allow_root_session", base.allow_root_session)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"The [remote] section of {where} has a value of the wrong type; see the README.",
            detail=str(exc),
        ) from exc


def _machine_desk(policy: Mapping[str, Any], where: Path) -> str:
    """The policy's ``[desk] url``: the desk every user of this machine enrolls with."""
    table = policy.get("desk", {})
    url = table.get("url", "") if isinstance(table, Mapping) else None
    if not isinstance(url, str):
        raise ConfigError(
            f"[desk] url in the machine policy {where} must be an address like "
            "https://desk.example.com; ask an administrator to fix it.",
            detail=f"desk table {table!r}",
        )
    return url.strip().rstrip("/")


def load_settings(paths: Paths | None = None) -> Settings:
    """Read user settings and the machine policy; the policy wins where they differ."""
    paths = paths or Paths.from_env()
    user = _read_toml(paths.settings_file)

    policy_data: dict[str, Any] = {}
    machine = RemotePolicy()
    try:
        policy_present = paths.policy_file.exists()
    except OSError as exc:
        log.warning("machine policy unreadable, remote access off: %s", exc)
        policy_present, machine = False, LOCKED_DOWN
    if policy_present:
        trusted, why = policy_file_trusted(paths.policy_file)
        if trusted:
            policy_data = _read_toml(paths.policy_file, "machine policy")
            machine = _remote_from(policy_data.get("remote", {}), paths.policy_file)
        else:
            log.warning("machine policy not trusted, remote access off: %s", why)
            machine = LOCKED_DOWN

    # what the user leaves out is the machine's: only what the user sets can tighten
    # it (a user with no [remote] table must not cap an administrator's 240 minutes
    # at the default 120, nor drop the forward targets the policy lists)
    user_remote = _remote_from(user.get("remote", {}), paths.settings_file, base=machine)
    remote = machine.tightened_by(user_remote)
    machine_desk = _machine_desk(policy_data, paths.policy_file)
    support = user.get("support", {})
    smtp = user.get("smtp", {})
    try:
        return Settings(
            desk_url=machine_desk or str(user.get("desk_url", "")),
            support=SupportContact(
                email=str(support.get("email", SupportContact.email)),
                phone=str(support.get("phone", SupportContact.phone)),
                website=str(support.get("website", SupportContact.website)),
            ),
            smtp=SmtpSettings(
                host=str(smtp.get("host", SmtpSettings.host)),
                port=int(smtp.get("port", SmtpSettings.port)),
                starttls=bool(smtp.get("starttls", SmtpSettings.starttls)),
                username=str(smtp.get("username", SmtpSettings.username)),
                sender=str(smtp.get("sender", SmtpSettings.sender)),
                timeout_s=float(smtp.get("timeout_s", SmtpSettings.timeout_s)),
            ),
            outbox_retry_window_s=int(
                user.get("outbox_retry_window_s", Settings.outbox_retry_window_s)
            ),
            secrets_backend=str(user.get("secrets_backend", Settings.secrets_backend)),
            anonymize_by_default=bool(user.get("anonymize_by_default", False)),
            remote=remote,
            policy_extra={k: v for k, v in policy_data.items() if k != "remote"},
            log_level=str(user.get("log_level", Settings.log_level)),
            machine_desk_url=machine_desk,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"A value in {paths.settings_file} has the wrong type; see the README.",
            detail=str(exc),
        ) from exc


def write_toml(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` as TOML, replacing the file in one step."""
    import tomli_w

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    tmp.replace(path)


def update_user_settings(paths: Paths, changes: Mapping[str, Any]) -> None:
    """Merge top-level ``changes`` into the user settings file (used by enroll)."""
    data = _read_toml(paths.settings_file)
    data.update(changes)
    write_toml(paths.settings_file, data)
