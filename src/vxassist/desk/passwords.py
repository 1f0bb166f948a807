"""Engineer passwords for the web console: scrypt (hashlib), salted, parameters kept.

A stored hash reads ``scrypt$N$r$p$salt$hash`` (base64), so the cost can rise
later without invalidating older hashes. Pure functions; no database here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

#: scrypt cost: about 16 MiB and a few tens of ms per check on a desk machine
N, R, P = 2**14, 8, 1
MIN_LENGTH = 10
MAX_LENGTH = 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def password_problem(password: str) -> str | None:
    """A sentence saying what is wrong with a new password, or None."""
    if len(password) < MIN_LENGTH:
        return f"A password needs at least {MIN_LENGTH} characters; choose a longer one."
    if len(password) > MAX_LENGTH:
        return f"A password may have at most {MAX_LENGTH} characters; choose a shorter one."
    return None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches ``stored`` (False for no hash or a malformed one)."""
    if not stored or len(password) > MAX_LENGTH:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


#: checked against when the name is unknown, so a wrong name costs as long as a wrong password
DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
