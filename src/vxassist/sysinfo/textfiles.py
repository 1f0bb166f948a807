"""Decoding config and log files whatever encoding wrote them.

VXTracker on Windows writes UTF-16 with a byte-order mark, or the ANSI code page
(cp1252); on Linux, UTF-8. Nothing here raises on odd bytes: what cannot be
decoded becomes U+FFFD and the encoding used is reported.
"""

from __future__ import annotations

import codecs
import re

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode(data: bytes, from_tail: bool = False) -> tuple[str, str]:
    """``(text, encoding)`` for ``data``; never raises.

    ``from_tail`` says the bytes were cut from the end of a file, so a BOM
    cannot be there and a multi-byte sequence may be split at the start.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            if name.startswith(("utf-16", "utf-32")):
                unit = 2 if name.startswith("utf-16") else 4
                body = body[: len(body) - len(body) % unit]
            return body.decode(name.replace("-sig", ""), "replace"), name
    if len(data) >= 4:
        even, odd = data[0::2], data[1::2]
        # mostly-ASCII UTF-16 without a BOM: every other byte is zero
        # (a tail must start on an even offset of the file for this to hold)
        body = data[: len(data) // 2 * 2]
        if odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.1:
            return body.decode("utf-16-le", "replace"), "utf-16-le"
        if even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.1:
            return body.decode("utf-16-be", "replace"), "utf-16-be"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if from_tail and exc.start < 4:
            try:
                return data[exc.start + 1 :].decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                pass
    return data.decode("cp1252", "replace"), "cp1252"


#: files that hold key material whatever they look like: never read into a report
KEY_STORE_SUFFIXES = (
    ".jks",
    ".jceks",
    ".keystore",
    ".bcfks",
    ".p12",
    ".pfx",
    ".kdb",
    ".sth",
    ".snk",
    ".ppk",
    ".kdbx",
    ".der",
    ".key",
)
#: control characters that text files do not hold (tab, line ends, form feed and
#: escape are text)
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f\ufffd]")


def is_binary(text: str) -> bool:
    """Whether decoded ``text`` came from a binary file (a key store, an
    executable): any NUL, or more than 2 % control characters or undecodable bytes."""
    if not text:
        return False
    if "\x00" in text:
        return True
    return len(_BINARY_CHARS.findall(text[:65536])) > 0.02 * min(len(text), 65536)


_KV = re.compile(r"^\s*([A-Za-z_][\w .-]{0,80}?)\s*[=:]\s*(.*?)\s*$")
_XML_ELEMENT = re.compile(r"<([A-Za-z_][\w.-]*)(?:\s[^>]*)?>([^<>]{1,200})</\1\s*>")
_XML_ADD = re.compile(
    r"""(?i)\b(?:key|name)\s*=\s*["']([^"']+)["']\s+(?:value|connectionString)\s*=\s*["']([^"']*)["']"""
)


def key_values(text: str) -> list[tuple[str, str]]:
    """``(key, value)`` pairs of an INI, .conf, .properties or .NET/XML config."""
    pairs: list[tuple[str, str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;[":
            continue
        if stripped.startswith("<"):
            pairs += [(m.group(1), m.group(2).strip()) for m in _XML_ADD.finditer(stripped)]
            pairs += [(m.group(1), m.group(2).strip()) for m in _XML_ELEMENT.finditer(stripped)]
            continue
        match = _KV.match(line)
        if match:
            pairs.append((match.group(1).strip(), match.group(2).strip().strip('"')))
    return pairs


def norm_key(key: str) -> str:
    """A config key compared without case, spaces, ``_``, ``-`` or ``.``."""
    return re.sub(r"[\s_.-]", "", key).lower()
