"""Secret removal shared by the system report, the manifest and the agent's logs.

``scrub`` removes secrets from free text and is what the log filter applies.
The sysinfo cleaner builds on the rest: secret-named keys (environment, config
and registry values), command lines, and, on request, an ``Anonymizer`` that
replaces host names, IP and MAC addresses and user names with stable aliases.

Everything here is pure: text in, text out, and a count of what was masked so
the manifest can say that something was removed (never what).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence

MASK = "********"

_SECRET_KEY = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|auth|"
    r"credentials?|private[_-]?key|licen[cs]e[_-]?key)"
)
#: a name also counts as secret when it ends like one (EncryptionKey, SESSION_COOKIE)
_SECRET_NAME = re.compile(rf"(?i){_SECRET_KEY}|(?:key|cookie|salt)$")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.S,
        ),
        "-----PRIVATE KEY REMOVED-----",
    ),
    # <Password>value</Password>, <add key="DbPassword" value="value" />
    (
        re.compile(rf"(?i)(<([\w:.-]*{_SECRET_KEY}[\w:.-]*)(?:\s[^>]*)?>)([^<]*)(</\2\s*>)"),
        rf"\g<1>{MASK}\g<4>",
    ),
    (
        re.compile(
            rf"(?i)(\b(?:key|name)\s*=\s*[\"'][^\"']*{_SECRET_KEY}[^\"']*[\"']\s+"
            r"(?:value|connectionString)\s*=\s*)([\"'])([^\"']*)([\"'])"
        ),
        rf"\g<1>\g<2>{MASK}\g<4>",
    ),
    # Password={with spaces; or braces} in ODBC/OLE DB connection strings
    (
        re.compile(rf"(?i)(\b[\w .-]*{_SECRET_KEY}[\w.-]*\s*=\s*)\{{[^}}]*\}}"),
        rf"\g<1>{MASK}",
    ),
    # key="quoted value", "key": "value with spaces"
    (
        re.compile(rf"(?i)(\b[\w.-]*{_SECRET_KEY}[\w.-]*[\"']?\s*[=:]\s*)([\"'])([^\"'\n]*)\2"),
        rf"\g<1>\g<2>{MASK}\g<2>",
    ),
    # key=value, key: value, "key": "value", Authorization: Bearer value
    (
        re.compile(
            rf"(?i)(\b[\w.-]*{_SECRET_KEY}[\w.-]*[\"']?\s*[=:]\s*[\"']?(?:(?:bearer|basic|digest)\s+)?)"
            r"([^\s\"';,&<]+)"
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


#: every pattern above needs one of these; text without any is returned at once
_TRIGGER = re.compile(rf"(?i){_SECRET_KEY}|://|bearer|PRIVATE KEY")


def scrub_counted(text: str) -> tuple[str, int]:
    """``text`` with secrets masked, and how many were masked."""
    if not _TRIGGER.search(text):
        return text, 0
    total = 0
    for pattern, replacement in _PATTERNS:
        text, n = pattern.subn(replacement, text)
        total += n
    return text, total


def scrub(text: str) -> str:
    """``text`` with passwords, tokens, private keys and credentials masked."""
    return scrub_counted(text)[0]


def is_secret_name(name: str) -> bool:
    """Whether a key, variable or option called ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name))


def scrub_mapping(values: Mapping[str, str]) -> tuple[dict[str, str], int]:
    """An environment or config section with secret-named values masked."""
    out: dict[str, str] = {}
    masked = 0
    for key, value in values.items():
        if is_secret_name(key):
            out[key] = MASK
            masked += 1
        else:
            out[key], n = scrub_counted(value)
            masked += n
    return out, masked


_MYSQL_CLIENTS = re.compile(r"(?i)^(?:mysql\w*|mariadb\w*)(?:\.exe)?$")


def scrub_argv(argv: Sequence[str]) -> tuple[list[str], int]:
    """A command line with option values that are secrets masked.

    Handles ``--password=x``, ``--password x``, ``/Password:x`` and the MySQL
    clients' glued ``-px``.
    """
    out: list[str] = []
    masked = 0
    program = re.split(r"[\\/]", argv[0])[-1] if argv else ""
    hide_next = False
    for arg in argv:
        if hide_next:
            hide_next = False
            if not arg.startswith("-"):
                out.append(MASK)
                masked += 1
                continue
        if _MYSQL_CLIENTS.match(program) and len(arg) > 2 and arg.startswith("-p"):
            out.append("-p" + MASK)
            masked += 1
            continue
        option = re.match(r"^(--?|/)([\w.-]+)([=:])?(.*)$", arg, re.S)
        if option and is_secret_name(option.group(2)):
            if option.group(3):
                out.append(f"{option.group(1)}{option.group(2)}{option.group(3)}{MASK}")
                masked += 1
            else:
                out.append(arg)
                hide_next = option.group(1) != "/"
            continue
        cleaned, n = scrub_counted(arg)
        out.append(cleaned)
        masked += n
    return out, masked


_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
#: a MAC address written with colons or dashes (one kind throughout)
_MAC = re.compile(
    r"(?<![\w:.-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:.-])"
)
#: all zeros (no hardware address) and broadcast identify nothing
_KEEP_MACS = frozenset({"000000000000", "ffffffffffff"})
_VERSION_BEFORE = re.compile(
    r"(?i)(?:version|\bver|build|release|\bv)[\w ]*[\"']?\s*[=:]?\s*[\"']?v?$"
)
_FQDN = re.compile(
    r"(?i)(?<![\w.-])[a-z0-9][\w-]*(?:\.[\w-]+)*\.(?:local|lan|corp|internal|intranet|localdomain|home\.arpa)(?![\w.-])"
)
_KEEP_ADDRESSES = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "255.255.255.255"})
_KEEP_NAMES = frozenset({"localhost", "root", "system", "nobody", "administrator"})


class Anonymizer:
    """Replaces host names, IP and MAC addresses and user names with stable aliases.

    The same original always gets the same alias within one report, so a reader
    can still follow that "host-1" talks to "ip-2". Loopback and wildcard
    addresses stay, since they identify nothing.
    """

    def __init__(self) -> None:
        self._aliases: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        self._names: dict[str, str] = {}
        self._names_re: re.Pattern[str] | None = None
        self._known_ips: set[str] = set()

    def _alias(self, kind: str, original: str) -> str:
        key = (kind, original.lower())
        if key not in self._aliases:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self._aliases[key] = f"{kind}-{self._counts[kind]}"
        return self._aliases[key]

    def learn(self, kind: str, names: Iterable[str]) -> None:
        """Register names of ``kind`` ("host" or "user") to replace in any text."""
        for name in names:
            name = name.strip()
            if len(name) < (2 if kind == "host" else 3) or name.lower() in _KEEP_NAMES:
                continue
            self._names[name.lower()] = self._alias(kind, name)
            self._names_re = None

    def aliases(self) -> int:
        return len(self._aliases)

    def learn_addresses(self, addresses: Iterable[str]) -> None:
        """Addresses known to be this host's or its peers': replaced even where they
        look like a version number."""
        for text in addresses:
            try:
                self._known_ips.add(ipaddress.ip_address(text.split("%")[0]).compressed)
            except ValueError:
                continue

    def _ip(self, match: re.Match[str]) -> str:
        text = match.group(0)
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return text
        if text in _KEEP_ADDRESSES or address.is_loopback or address.is_unspecified:
            return text
        if address.compressed not in self._known_ips and address.version == 4:
            before = match.string[max(0, match.start() - 24) : match.start()]
            if _VERSION_BEFORE.search(before):
                return text  # "Version=7.4.2.118" is a version, not an address
        return self._alias("ip", address.compressed)

    def apply(self, text: str, version: bool = False) -> str:
        """``text`` with every known name and every IP address replaced.

        ``version`` says the text is a version number: only known addresses change.
        """
        if version:
            return self._names_only(text)
        text = _FQDN.sub(lambda m: self._alias("host", m.group(0)), text)
        return self._names_only(text, addresses=True)

    def _names_only(self, text: str, addresses: bool = False) -> str:
        if not addresses:
            for ip in self._known_ips:
                if ip in text:
                    text = re.sub(
                        rf"(?<![\w.]){re.escape(ip)}(?![\w.])", self._alias("ip", ip), text
                    )
        if self._names:
            if self._names_re is None:
                words = sorted(self._names, key=len, reverse=True)
                self._names_re = re.compile(
                    r"(?i)(?<![\w-])(" + "|".join(re.escape(w) for w in words) + r")(?![\w-])"
                )
            text = self._names_re.sub(lambda m: self._names[m.group(0).lower()], text)
        if not addresses:
            return text
        text = _MAC.sub(self._mac, text)
        text = _IPV4.sub(self._ip, text)
        return _IPV6.sub(self._ip, text)

    def _mac(self, match: re.Match[str]) -> str:
        digits = re.sub(r"[:-]", "", match.group(0)).lower()
        return match.group(0) if digits in _KEEP_MACS else self._alias("mac", digits)


_CONFIG_LINE = re.compile(r"^(\s*[\"']?([A-Za-z_][\w .-]{0,80}?)[\"']?\s*[=:]\s*)(\S.*?)(\s*)$")


def scrub_config(text: str) -> tuple[str, int]:
    """A config file (INI, .conf, .properties, XML) with secrets masked, and how many.

    A line whose key names a secret loses its whole value, spaces included; every
    other line goes through ``scrub`` (connection strings, URLs, XML elements).
    """
    lines = []
    # keys span lines: remove them from the whole text before going line by line
    text, masked = _PATTERNS[0][0].subn(_PATTERNS[0][1], text)
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        match = _CONFIG_LINE.match(body)
        if match and is_secret_name(match.group(2)) and not body.lstrip().startswith("<"):
            body = f"{match.group(1)}{MASK}"
            masked += 1
        else:
            body, n = scrub_counted(body)
            masked += n
        lines.append(body + ending)
    return "".join(lines), masked
