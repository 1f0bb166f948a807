"""Bearer tokens and one-time codes: made here, stored only as sha256 hashes."""

from __future__ import annotations

import hashlib
import secrets

AGENT_PREFIX = "vxa_"
ENGINEER_PREFIX = "vxe_"
#: no 0/O, 1/I/L: codes are read aloud and typed by hand
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def new_enrollment_code() -> str:
    """Twelve characters in three groups, about 59 bits: ``K7QP-3MZX-94RT``."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalize_code(code: str) -> str:
    """The code as issued, whatever case or spacing the person typed."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}" if len(raw) == 12 else code.strip().upper()


def new_reference() -> str:
    """A reference for every stored request, e.g. ``R-7F3K9Q``."""
    return "R-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


def new_agent_id() -> str:
    """Lowercase hex: it appears in host principals (``vx-<agent_id>``) and host names."""
    return secrets.token_hex(8)
