"""Grants: who may do what on this host, until when. Pure decisions, clock passed in.

A session request from the desk is first screened against the local policy
(:func:`screen_request`), then shown to the customer; an approval becomes a
:class:`Grant` (:func:`make_grant`). While it lives, every login, channel, path
and forward is checked against it by the pure functions below. Only
:class:`GrantTable` holds state: which grants exist, and which are spent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath

from vxassist.remote.errors import GrantError, PathEscape
from vxassist.settings import RemotePolicy

#: certificates are signed with valid_after = not_before - 30 s for clock skew
CLOCK_SKEW = timedelta(seconds=30)

SCOPE_KINDS = ("shell", "files", "forward")

#: the session id becomes a certificate principal and a login name: keep it plain
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENGINEER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,99}$")


@dataclass(frozen=True, order=True)
class Scope:
    """One thing a session may do: ``shell``, ``files`` or ``forward:HOST:PORT``."""

    kind: str
    host: str = ""
    port: int = 0

    @classmethod
    def parse(cls, text: str) -> Scope:
        text = text.strip()
        if text in ("shell", "files"):
            return cls(text)
        if text.startswith("forward:"):
            target = text[len("forward:") :]
            host, sep, port_text = target.rpartition(":")
            host = host.strip("[]")
            if sep and host and port_text.isdigit() and 0 < int(port_text) < 65536:
                return cls("forward", host, int(port_text))
        raise GrantError(
            f"The scope {text!r} is not one of shell, files or forward:HOST:PORT; "
            "ask for one of those.",
        )

    @property
    def target(self) -> str:
        """``HOST:PORT`` of a forward scope, empty otherwise."""
        return f"{self.host}:{self.port}" if self.kind == "forward" else ""

    def __str__(self) -> str:
        return f"forward:{self.target}" if self.kind == "forward" else self.kind


def parse_scopes(texts: Iterable[str]) -> tuple[Scope, ...]:
    """Scopes in the order given, without duplicates."""
    seen: dict[Scope, None] = {}
    for text in texts:
        seen.setdefault(Scope.parse(text), None)
    return tuple(seen)


@dataclass(frozen=True)
class SessionRequest:
    """An engineer's request for a session, as the desk relays it."""

    session_id: str
    engineer: str
    case_number: int
    case_brief: str
    scopes: tuple[Scope, ...]
    minutes: int
    reason: str
    verification_code: str
    key_fingerprint: str
    received_at: datetime


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused without asking anyone."""

    reason: str


@dataclass(frozen=True)
class ConsentDecision:
    """The customer's answer: the scopes and minutes approved (maybe fewer than asked)."""

    approved: bool
    scopes: tuple[Scope, ...]
    minutes: int
    note: str = ""

    @classmethod
    def deny(cls, note: str) -> ConsentDecision:
        return cls(False, (), 0, note)


@dataclass(frozen=True)
class Grant:
    """A customer-approved window for one engineer, one case, some scopes."""

    session_id: str
    engineer: str
    case_number: int
    scopes: tuple[Scope, ...]
    not_before: datetime
    not_after: datetime
    key_id: str
    #: the engineer key's fingerprint from the request (``SHA256:...``); empty = not pinned
    key_fingerprint: str = ""

    def kinds(self) -> frozenset[str]:
        return frozenset(s.kind for s in self.scopes)

    def remaining(self, now: datetime) -> timedelta:
        return max(self.not_after - now, timedelta(0))


@dataclass(frozen=True)
class Verdict:
    """Allowed or not, and why (the reason goes to the audit log)."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def allow(reason: str = "granted") -> Verdict:
    return Verdict(True, reason)


def deny(reason: str) -> Verdict:
    return Verdict(False, reason)


def key_id_for(engineer: str, case_number: int, session_id: str) -> str:
    return f"{engineer}/case-{case_number}/session-{session_id}"


def _scope_allowed(scope: Scope, policy: RemotePolicy) -> bool:
    if scope.kind not in policy.scopes:
        return False
    return scope.kind != "forward" or scope.target in policy.forward_targets


def screen_request(
    req: SessionRequest,
    policy: RemotePolicy,
    own_cases: frozenset[int],
    can_prompt: bool,
) -> SessionRequest | Refusal:
    """The request cut down to what local policy allows, or why it is refused outright."""
    if not policy.enabled:
        return Refusal("remote access is switched off on this host")
    if not _SESSION_ID.match(req.session_id):
        return Refusal("the session id is not a plain name")
    if not _ENGINEER.match(req.engineer):
        return Refusal("the engineer name is not a plain name")
    if req.case_number not in own_cases:
        return Refusal(f"case {req.case_number} was not opened from this host")
    if not can_prompt and not policy.unattended:
        return Refusal("nobody can answer the prompt and unattended access is off")
    scopes = tuple(s for s in dict.fromkeys(req.scopes) if _scope_allowed(s, policy))
    if not scopes:
        return Refusal("none of the requested scopes is allowed by local policy")
    minutes = min(req.minutes, policy.max_minutes)
    if minutes <= 0:
        return Refusal("the requested duration is not allowed by local policy")
    return replace(req, scopes=scopes, minutes=minutes)


def make_grant(req: SessionRequest, decision: ConsentDecision, now: datetime) -> Grant:
    """The grant of an approval: only scopes both asked and approved, the shorter duration."""
    if not decision.approved:
        raise GrantError("The request was denied; no grant can be made from it.")
    approved = set(decision.scopes)
    scopes = tuple(s for s in req.scopes if s in approved)
    minutes = min(req.minutes, decision.minutes)
    if not scopes or minutes <= 0:
        raise GrantError("Approve at least one scope for at least one minute, or deny.")
    return Grant(
        session_id=req.session_id,
        engineer=req.engineer,
        case_number=req.case_number,
        scopes=scopes,
        not_before=now,
        not_after=now + timedelta(minutes=minutes),
        key_id=key_id_for(req.engineer, req.case_number, req.session_id),
        key_fingerprint=req.key_fingerprint,
    )


@dataclass(frozen=True)
class ExtensionRequest:
    """An engineer's request for more minutes on a live session, as the desk relays it."""

    session_id: str
    #: the extension's number within its session (1, 2, ...)
    number: int
    engineer: str
    minutes: int
    reason: str
    received_at: datetime


def screen_extension(
    req: ExtensionRequest,
    grant: Grant | None,
    policy: RemotePolicy,
    can_prompt: bool,
    now: datetime,
) -> ExtensionRequest | Refusal:
    """The extension cut down to what local policy allows, or why it is refused outright.

    ``grant`` is the session's live grant (None when it is unknown, spent or over).
    ``policy.max_minutes`` counts the whole grant, extensions included.
    """
    if not policy.enabled:
        return Refusal("remote access is switched off on this host")
    if grant is None or now >= grant.not_after:
        return Refusal("the session has already ended; ask for a new session")
    if req.engineer != grant.engineer:
        return Refusal("only the engineer who holds the session may extend it")
    if not can_prompt and not policy.unattended:
        return Refusal("nobody can answer the prompt and unattended access is off")
    if req.minutes <= 0:
        return Refusal("the requested extension is not a positive number of minutes")
    length = grant.not_after - grant.not_before
    room = timedelta(minutes=policy.max_minutes) - length
    minutes = min(req.minutes, int(room.total_seconds() // 60))
    if minutes <= 0:
        return Refusal(
            "the session already lasts as long as local policy allows: "
            f"at most {policy.max_minutes} minute{'' if policy.max_minutes == 1 else 's'} in all"
        )
    return replace(req, minutes=minutes)


def extend_grant(grant: Grant, minutes: int, now: datetime) -> Grant:
    """The grant with ``minutes`` more at its end; only a grant still running can grow."""
    if now >= grant.not_after:
        raise GrantError("This session has already ended; ask for a new session.")
    if minutes <= 0:
        raise GrantError("Approve at least one more minute, or refuse the extension.")
    return replace(grant, not_after=grant.not_after + timedelta(minutes=minutes))


def check_login(
    grant: Grant | None,
    cert_principals: Sequence[str],
    cert_key_id: str,
    cert_valid_after: datetime,
    cert_valid_before: datetime,
    now: datetime,
    key_fingerprint: str = "",
) -> Verdict:
    """May a certificate with these fields log in now? (The CA is checked by the caller.)"""
    if grant is None:
        return deny("no live grant for this login")
    if grant.session_id not in cert_principals:
        return deny("the certificate is not for this session")
    if cert_key_id != grant.key_id:
        return deny(f"the certificate's key id {cert_key_id!r} does not match the grant")
    if grant.key_fingerprint and key_fingerprint and key_fingerprint != grant.key_fingerprint:
        return deny("the certificate is for another key than the one requested")
    if not cert_valid_after <= now < cert_valid_before:
        return deny("the certificate is not valid now")
    if not grant.not_before - CLOCK_SKEW <= now < grant.not_after:
        return deny("the grant is not live now")
    if cert_valid_after < grant.not_before - 2 * CLOCK_SKEW:
        return deny("the certificate was valid before the grant began")
    if cert_valid_before > grant.not_after + 2 * CLOCK_SKEW:
        return deny("the certificate outlives the grant")
    return allow("certificate matches a live grant")


#: channel kinds a session scope opens; everything else is refused
_CHANNEL_SCOPE = {"shell": "shell", "exec": "shell", "pty": "shell", "sftp": "files"}


def check_channel(grant: Grant, kind: str, now: datetime) -> Verdict:
    """May a channel of ``kind`` (shell, exec, pty, sftp, ...) open now?"""
    if not grant.not_before - CLOCK_SKEW <= now < grant.not_after:
        return deny("the grant is not live now")
    scope = _CHANNEL_SCOPE.get(kind)
    if scope is None:
        return deny(f"{kind} is never allowed")
    if scope not in grant.kinds():
        return deny(f"{kind} needs the {scope} scope, which was not granted")
    return allow(f"{kind} within the {scope} scope")


def check_forward(
    grant: Grant,
    host: str,
    port: int,
    allowed_targets: Sequence[str],
    now: datetime | None = None,
) -> Verdict:
    """May a direct-tcpip channel reach ``host:port``? Granted AND listed by policy."""
    if now is not None and not grant.not_before - CLOCK_SKEW <= now < grant.not_after:
        return deny("the grant is not live now")
    target = f"{host}:{port}"
    if Scope("forward", host, port) not in grant.scopes:
        return deny(f"a forward to {target} was not granted")
    if target not in allowed_targets:
        return deny(f"local policy does not list {target} as a forward target")
    return allow(f"forward to {target}")


def default_file_roots(policy: RemotePolicy, home: Path | None = None) -> tuple[Path, ...]:
    """The folders the files scope reaches: the policy's, else the agent user's home."""
    roots = policy.file_roots or (str(home or Path.home()),)
    return tuple(Path(os.path.realpath(r)) for r in roots)


def confine_path(roots: Sequence[Path], requested: str | bytes, cwd: Path | None = None) -> Path:
    """The real path of ``requested``, which must lie inside one of ``roots``.

    Relative paths start at ``cwd`` (default: the first root). ``..`` and every
    symlink are resolved before the check, so neither leads out. Raises
    :class:`PathEscape` otherwise.
    """
    if isinstance(requested, bytes):
        try:
            requested = requested.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PathEscape("Use UTF-8 file names.", detail=repr(requested)) from exc
    if not roots:
        raise PathEscape("No folder is open to this session.")
    if "\x00" in requested:
        raise PathEscape("File names cannot contain NUL.", detail=repr(requested))
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    base = cwd if cwd is not None else real_roots[0]
    raw = PurePosixPath(requested) if os.name != "nt" else Path(requested)
    candidate = Path(raw) if Path(raw).is_absolute() else base / raw
    real = Path(os.path.realpath(candidate))
    if any(real == r or real.is_relative_to(r) for r in real_roots):
        return real
    raise PathEscape(
        "That path is outside the folders this session may reach.",
        detail=f"{requested!r} resolves to {real}",
    )


class GrantTable:
    """The grants this agent holds. Owned by the session service; not thread-safe."""

    def __init__(self) -> None:
        self._grants: dict[str, Grant] = {}
        self._spent: dict[str, str] = {}

    def add(self, grant: Grant) -> None:
        if grant.session_id in self._grants or grant.session_id in self._spent:
            raise GrantError(
                "This session id was already used; ask the engineer for a new request.",
                detail=grant.session_id,
            )
        self._grants[grant.session_id] = grant

    def get(self, session_id: str) -> Grant | None:
        return self._grants.get(session_id)

    def replace(self, grant: Grant) -> Grant:
        """Put ``grant`` in place of the held grant of the same session (a new window);
        returns the one it replaces. A spent or unknown session cannot be replaced."""
        old = self._grants.get(grant.session_id)
        if old is None or grant.session_id in self._spent:
            raise GrantError(
                "This session has already ended; ask for a new session.",
                detail=grant.session_id,
            )
        if (grant.engineer, grant.case_number, grant.key_id, grant.scopes) != (
            old.engineer,
            old.case_number,
            old.key_id,
            old.scopes,
        ):
            raise GrantError(
                "A new window cannot change who the session is for or what it may do.",
                detail=grant.session_id,
            )
        self._grants[grant.session_id] = grant
        return old

    def live(self, session_id: str, now: datetime) -> Grant | None:
        """The grant if it exists, is not spent, and its window holds ``now``."""
        grant = self._grants.get(session_id)
        if grant is None or session_id in self._spent:
            return None
        if not grant.not_before - CLOCK_SKEW <= now < grant.not_after:
            return None
        return grant

    def spend(self, session_id: str, reason: str) -> Grant | None:
        """Mark the grant used up for good; returns it (None if unknown)."""
        grant = self._grants.pop(session_id, None)
        self._spent.setdefault(session_id, reason)
        return grant

    def spent_reason(self, session_id: str) -> str | None:
        return self._spent.get(session_id)

    def active(self) -> list[Grant]:
        return list(self._grants.values())
