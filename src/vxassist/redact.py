"""Secret removal shared by the system report, the manifest and the agent's logs.

``scrub`` removes secrets from free text and is what the log filter applies.
The sysinfo cleaner builds on it (see ``vxassist.sysinfo``).
"""

from __future__ import annotations

import re

MASK = "********"

_SECRET_KEY = r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|auth|credentials?|private[_-]?key)"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.S,
        ),
        "-----PRIVATE KEY REMOVED-----",
    ),
    # key=value, key: value, "key": "value", Authorization: Bearer value
    (
        re.compile(
            rf"(?i)(\b[\w.-]*{_SECRET_KEY}[\w.-]*[\"']?\s*[=:]\s*[\"']?(?:(?:bearer|basic|digest)\s+)?)"
            r"([^\s\"';,&]+)"
        ),
        rf"\g<1>{MASK}",
    ),
    # --password value, -token value (command lines)
    (
        re.compile(rf"(?i)((?:^|\s)--?[\w.-]*{_SECRET_KEY}[\w.-]*\s+)([^\s-][^\s]*)"),
        rf"\g<1>{MASK}",
    ),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@\s]+)(@)"), rf"\g<1>{MASK}\g<3>"),
    (re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]{8,})"), rf"\g<1>{MASK}"),
)


def scrub(text: str) -> str:
    """``text`` with passwords, tokens, private keys and credentials masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
