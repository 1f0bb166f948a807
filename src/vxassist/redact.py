"""Secret removal shared by the system report, the manifest and the agent's logs.

``scrub`` removes secrets from free text and is what the log filter applies.
The sysinfo cleaner builds on the rest: secret-named keys (environment, config
and registry values), command lines, config files, and, on request, an
``Anonymizer`` that replaces host names, IP and MAC addresses and user names
with stable aliases.

Where a format has a structure, the structure decides: JSON config files are
parsed and the values of secret-named keys masked; XML elements and attributes
named like a secret, or naming one (``<setting name="SmtpPassword"><value>``,
``<add key="DbPassword" value=...>``), are masked across lines; INI and
``.properties`` lines by their key (and every key of a ``[credentials]``
section); pgpass lines by their fifth field; connection strings, URLs, JDBC and
Oracle ``user/password@`` by their syntax; command lines option by option.
Free text (log tails) gets the same rules, plus private keys (also a body cut
from its BEGIN line), base64 blocks, known token formats (AWS key ids, JWTs,
...) and secret-shaped strings. A mask in JSON text is always a JSON string.

A maintained detector (detect-secrets 1.5.0) was compared on the test corpus
(``tests/sysinfo/secret_corpus.py``): scanning files it found 12 of the 108
planted secrets and cut one value at an escaped quote; its line-by-line mode
flagged option names and XML tags as secrets. It is not used.

Everything here is pure: text in, text out, and a count of what was masked so
the manifest can say that something was removed (never what).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MASK = "********"
PRIVATE_KEY_REMOVED = "-----PRIVATE KEY REMOVED-----"
BLOCK_REMOVED = "-----BASE64 BLOCK REMOVED-----"

# -- names -----------------------------------------------------------------------------

#: words that make a key, variable, option or element name a secret's name
_WORDS = (
    r"pass(?:word|wd|phrase|wort)?|pwd|pw(?![a-z])|secret|token|api[_-]?key|access[_-]?key|"
    r"auth|credentials?|private[_-]?key|licen[cs]e[_-]?key|cookie"
)
#: a name also counts as secret when it ends like one (EncryptionKey, PasswordSalt)
_SECRET_NAME = re.compile(rf"(?i)(?:{_WORDS})|(?:key|salt)$")
#: the shell's working folders: named like ODBC's password keyword, holding a folder
_WORKING_FOLDERS = frozenset({"PWD", "OLDPWD"})
_FOLDER = re.compile(r"^(?:/|[A-Za-z]:\\|\\\\)[^;]*$")
#: a name that may be a secret's, to be confirmed by ``is_secret_name``
_NAME = rf"[\w.$-]*(?:{_WORDS}|key|salt)[\w.$-]*"


def is_secret_name(name: str) -> bool:
    """Whether a key, variable, option or element called ``name`` holds a secret."""
    return bool(_SECRET_NAME.search(name.strip().strip("\"'")))


def is_secret_pair(name: str, value: str) -> bool:
    """Whether ``name=value`` holds a secret: a secret's name, except the shell's
    ``PWD``/``OLDPWD`` holding a folder (ODBC's ``Pwd=`` is a password)."""
    if name.strip().strip("\"'") in _WORKING_FOLDERS:
        return not _FOLDER.match(value.strip().strip("\"'"))
    return is_secret_name(name)


# -- values that are secrets by their shape -----------------------------------------------

_KNOWN_TOKENS = re.compile(
    r"\b(?:"
    r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}"  # AWS key ids
    r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,}"  # GitHub
    r"|xox[abposr]-[\w-]{10,}"  # Slack
    r"|[sr]k_(?:live|test)_\w{16,}"  # Stripe
    r"|AIza[\w-]{35}"  # Google API keys
    r"|eyJ[\w-]{10,}(?:\.[\w-]+){0,2}"  # JSON web tokens
    r")"
)
#: an AWS secret access key: 40 characters of base64 with both cases and a slash or plus
_AWS_SECRET = re.compile(r"(?=.*[a-z])(?=.*[A-Z])(?=.*[/+])[A-Za-z0-9/+]{40}")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/_-]+")
_CANDIDATE = re.compile(r"(?<![\w+/=.-])[A-Za-z0-9+/_-]{20,}={0,2}(?![\w+/=.-])")


def _kind(c: str) -> int:
    return 0 if c.isupper() else 1 if c.islower() else 2


def secret_shaped(value: str) -> bool:
    """Whether ``value`` looks like a generated key or token (and not like a word,
    a path, a version, a GUID or a hash).

    Random keys mix upper case, lower case and digits throughout; names made of
    words change kind only at word boundaries. Hex strings (hashes, GUIDs) are
    left alone: they are what logs name files and sessions with.
    """
    core = value.rstrip("=")
    if not _TOKEN_CHARS.fullmatch(core) or core.startswith("/") or "//" in core:
        return False
    if len(value) == 40 and _AWS_SECRET.fullmatch(value):
        return True
    chars = [c for c in core if c.isalnum()]
    # a long key may hold a single digit (AWS secret keys are 40 characters)
    if len(chars) < 20 or not (
        any(c.isupper() for c in chars)
        and any(c.islower() for c in chars)
        and sum(c.isdigit() for c in chars) >= (1 if len(chars) >= 32 else 2)
    ):
        return False
    if all(c in "0123456789abcdefABCDEF" for c in chars):
        return False
    changes = sum(1 for a, b in itertools.pairwise(chars) if _kind(a) != _kind(b))
    if changes / (len(chars) - 1) < 0.4:
        return False
    counts: dict[str, int] = {}
    for c in chars:
        counts[c] = counts.get(c, 0) + 1
    entropy = -sum(n / len(chars) * math.log2(n / len(chars)) for n in counts.values())
    return entropy >= 3.5


def holds_secret(value: str) -> bool:
    """Whether ``value`` is, or contains, something ``scrub`` would mask."""
    return secret_shaped(value) or scrub_counted(value)[1] > 0


# -- the passes of ``scrub`` ----------------------------------------------------------------

_PEM = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.S,
)
#: a key whose BEGIN line was cut off (a log tail): its body lines, then END
_PEM_TAIL = re.compile(
    r"(?m)(?:^[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*\r?\n)+[ \t]*"
    r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
)
#: two or more lines of base64 and nothing else: a key or token dumped without markers
_B64_BLOCK = re.compile(r"(?m)(?:^[ \t]*[A-Za-z0-9+/]{40,}={0,2}[ \t]*(?:\r?\n|\Z)){2,}")

_XML_TAG = re.compile(r"<(?P<tag>[A-Za-z_][\w:.-]*)(?P<attrs>\s[^<>]*?)(?P<end>/?)>", re.S)
_XML_ATTR = re.compile(
    r"(?P<name>[A-Za-z_][\w:.-]*)(?P<eq>\s*=\s*)(?P<q>[\"'])(?P<value>.*?)(?P=q)", re.S
)
_XML_ELEMENT = re.compile(
    r"<(?P<tag>[A-Za-z_][\w:.-]*)(?P<attrs>(?:\s[^<>]*?)?)(?<!/)>(?P<body>.*?)</(?P=tag)\s*>", re.S
)
#: attributes that name a setting (``<add key="DbPassword" value="..."/>``)
_XML_NAMING = frozenset({"key", "name", "id"})
#: attributes that describe a secret setting without holding it
_XML_DESCRIBING = frozenset({"key", "name", "id", "type", "serializeas", "providername"})
_XML_TEXT = re.compile(r"(?<=>)([^<>]*[^\s<>][^<>]*)(?=<)")

_JSON_PAIR = re.compile(
    r"(?P<kq>[\"'])(?P<key>[^\"'\n]{1,80}?)(?P=kq)(?P<sep>\s*:\s*)"
    r"(?P<value>\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|-?\d[\d.eE+-]*)"
)
#: Password={with spaces; or braces} in ODBC/OLE DB connection strings
_BRACED = re.compile(rf"(?i)(?<![\w.$-])(?P<key>{_NAME})(?P<sep>\s*=\s*)\{{[^}}\n]*\}}")
_COOKIE = re.compile(r"(?im)(\b(?:set-)?cookie\s*:\s*)([^\"\r\n]+)")
#: -u user:password, --user=user:password, --proxy-user user:password, smbclient's -U user%password
_USER_PASS = re.compile(
    r"(?<![\w-])(?P<opt>-u\s*|-U\s+|--(?:proxy-)?user(?:=|\s+))(?P<q>[\"']?)"
    r"(?P<user>[^\s:%\"']+[:%])(?P<pw>[^\s\"']+)"
)


def _tool(names: str) -> re.Pattern[str]:
    """The rest of a line from a program called one of ``names``."""
    return re.compile(rf"(?i:\b(?:{names})(?:\.exe)?\b)[^\n]*")


_QUOTED_OR_WORD = r"(\"[^\"]*\"|'[^']*'|\S+)"
#: programs that take a password as a bare option letter, and that option's pattern
_LETTER_TOOLS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (_tool(r"sqlcmd|osql|isql|bcp"), re.compile(rf"(?<=\s)(-P\s*){_QUOTED_OR_WORD}")),
    (_tool(r"mysql\w*|mariadb\w*"), re.compile(r"(?<=\s)(-p)(\S+)")),
    (_tool(r"psexec(?:64)?|paexec|sshpass"), re.compile(rf"(?<=\s)(-p\s*){_QUOTED_OR_WORD}")),
    (_tool(r"ldap\w+"), re.compile(rf"(?<=\s)(-w\s*){_QUOTED_OR_WORD}")),
    (_tool(r"(?:docker|podman|nerdctl)\s+login"), re.compile(rf"(?<=\s)(-p\s*){_QUOTED_OR_WORD}")),
    # net use Z: \\server\share PASSWORD /user:name
    (_tool(r"net\s+use"), re.compile(r"(\\\\\S+\s+)([^\s/*\"]\S*|\"[^\"]*\")")),
)
_JDBC_ORACLE = re.compile(
    r"(?i)(jdbc:oracle:\w+:[^/@\s\"';]+/)([^\s\"';]+)(@)(?=//|[\w.-]+:\d|[\w.-]+(?:[\s\"';]|$))"
)
_ORACLE_TOOLS = re.compile(
    r"(?i)(\b(?:sqlplus|rman|expdp|impdp|exp|imp|sqlldr|dgmgrl)(?:\.exe)?\s+(?:-\w+\s+)*"
    r"[\"']?[^\s/@\"']+/)([^\s\"']+?)(?=@[\w/][^\s@\"']*(?:[\s\"']|$)|[\s\"']|$)"
)
#: scott/tiger@ORCL (Oracle's user/password@service), userid=scott/tiger
_USER_SLASH_PASS = re.compile(
    r"(?<![\w/.:$#-])([A-Za-z][\w$#]*/)([^\s\"']+?)(@)(?=[\w/][^\s@\"']*(?:[\s\"']|$))"
)
_USERID = re.compile(r"(?i)(\buserid\s*=\s*[\"']?[^/\s\"']+/)([^@\s\"']+)")
#: the password runs to the last "@" before the host (a password may hold an "@")
_URL_CREDS = re.compile(
    r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)(\S+)(@)(?=[\w.-]+(?:[:/?#\s\"'<]|$)|\[)"
)
_PAIR = re.compile(
    rf"(?i)(?<![\w.$-])(?P<key>{_NAME})(?P<close>[\"']?)(?P<sep>\s*[=:]\s*)"
    r"(?P<scheme>(?:bearer|basic|digest|token|negotiate|ntlm)\s+)?"
    r"(?P<value>\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|(?:[^\s\"';&<]|<(?!/)|&(?![\w.-]+=))+)"
)
#: --password value, -token value (command lines inside text)
_OPTION = re.compile(
    rf"(?i)(?<![\w-])(?P<opt>--?(?P<name>{_NAME}))(?P<sep>\s+)"
    r"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|\S+)"
)
_PROSE = re.compile(
    r"(?i)\b(?P<word>pass(?:word|wd|phrase)|secret|token)"
    r"(?P<link>\s+(?:is|was|set\s+to|of)\s+|\s+)(?P<value>\"[^\"\n]*\"|'[^'\n]*'|`[^`\n]*`)"
)
_PROSE_IS = re.compile(
    r"(?i)\b(pass(?:word|wd|phrase)|secret)(\s+(?:is|was|set\s+to)\s+)(?![\"'`])([^\s,;]+)"
)
_IDENTIFIED = re.compile(r"(?i)\b(identified\s+by\s+)(\"[^\"\n]*\"|'[^'\n]*'|[^\s;,]+)")
_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/=-]{8,})")

#: every pass needs one of these; text without any is returned at once
_TRIGGER = re.compile(
    rf"(?i){_WORDS}|key|salt|://|bearer|-----|\s-[pu]|@|identified|"
    r"[A-Za-z0-9+/_-]{20}"
)
#: a file's name before ":" or "=" ("secret.conf: not readable")
_FILE_NAME = re.compile(r"(?i)\.(?:conf|ini|cfg|config|xml|json|log|txt|ya?ml|properties|dat|db)$")
#: an option that is an option, not a password starting with a dash
_PLAIN_OPTION = re.compile(r"^(?:-[A-Za-z]|--[a-z][a-z-]*[a-z])$")


def _is_masked(value: str) -> bool:
    return value.strip("\"'`") == MASK


class _Counter:
    def __init__(self) -> None:
        self.n = 0

    def mask(self) -> str:
        self.n += 1
        return MASK


def _xml_attrs(attrs: str, count: _Counter) -> str:
    found = list(_XML_ATTR.finditer(attrs))
    naming = any(
        m.group("name").split(":")[-1].lower() in _XML_NAMING and is_secret_name(m.group("value"))
        for m in found
    )

    def attr(m: re.Match[str]) -> str:
        local = m.group("name").split(":")[-1].lower()
        secret = (naming and local not in _XML_DESCRIBING) or (
            local not in _XML_NAMING and is_secret_name(local)
        )
        if not secret or _is_masked(m.group("value")) or not m.group("value"):
            return m.group(0)
        return f"{m.group('name')}{m.group('eq')}{m.group('q')}{count.mask()}{m.group('q')}"

    return _XML_ATTR.sub(attr, attrs)


def _xml_body(body: str, count: _Counter) -> str:
    if re.search(r"<[A-Za-z_]", body):
        return _XML_TEXT.sub(lambda m: m.group(0) if _is_masked(m.group(1)) else count.mask(), body)
    return body if _is_masked(body.strip()) or not body.strip() else count.mask()


def _xml_elements(text: str, count: _Counter) -> str:
    def element(m: re.Match[str]) -> str:
        tag, attrs, body = m.group("tag"), m.group("attrs"), m.group("body")
        named = any(
            a.group("name").split(":")[-1].lower() in _XML_NAMING
            and is_secret_name(a.group("value"))
            for a in _XML_ATTR.finditer(attrs)
        )
        if is_secret_name(tag.split(":")[-1]) or named:
            body = _xml_body(body, count)
        else:
            body = _xml_elements(body, count)
        return f"<{tag}{attrs}>{body}</{tag}>"

    return _XML_ELEMENT.sub(element, text)


def _block(m: re.Match[str], count: _Counter) -> str:
    # lines of hex are hashes listed one per line, not key material
    if re.fullmatch(r"[\s0-9a-fA-F]+", m.group(0)):
        return m.group(0)
    count.mask()
    return BLOCK_REMOVED + "\n"


def _multiline(text: str, count: _Counter) -> str:
    """The passes whose secrets can span lines: private keys, base64 blocks, XML."""
    if "-----" in text:
        text = _PEM.sub(lambda m: (count.mask(), PRIVATE_KEY_REMOVED)[1], text)
        text = _PEM_TAIL.sub(lambda m: (count.mask(), PRIVATE_KEY_REMOVED)[1], text)
    text = _B64_BLOCK.sub(lambda m: _block(m, count), text)
    if "<" in text and ("</" in text or "=" in text):
        text = _XML_TAG.sub(
            lambda m: f"<{m.group('tag')}{_xml_attrs(m.group('attrs'), count)}{m.group('end')}>",
            text,
        )
        if "</" in text:
            text = _xml_elements(text, count)
    return text


def _masked_group(m: re.Match[str], count: _Counter, secret: int = 2) -> str:
    """The match with group ``secret`` masked; the groups around it kept."""
    if _is_masked(m.group(secret)):
        return m.group(0)
    parts = [m.group(i) or "" for i in range(1, (m.re.groups or 0) + 1)]
    parts[secret - 1] = count.mask()
    return "".join(parts)


def _json_pair(m: re.Match[str], count: _Counter) -> str:
    if not is_secret_pair(m.group("key"), m.group("value")) or _is_masked(m.group("value")):
        return m.group(0)
    value = m.group("value")
    quote = value[0] if value[0] in "\"'" else '"'
    key = f"{m.group('kq')}{m.group('key')}{m.group('kq')}"
    return f"{key}{m.group('sep')}{quote}{count.mask()}{quote}"


def _pair(m: re.Match[str], count: _Counter) -> str:
    value = m.group("value")
    # in a connection string (;PWD=...;) PWD is the password, whatever it holds
    odbc = m.string[m.start() - 1 : m.start()] == ";" or m.string[m.end() : m.end() + 1] == ";"
    key = m.group("key")
    if _FILE_NAME.search(key):
        return m.group(0)  # "secret.conf: not readable" names a file, not a secret
    secret = is_secret_name(key) and (odbc or is_secret_pair(key, value))
    if not secret or _is_masked(value):
        return m.group(0)
    if m.group("key").lower() == "key" and value[0] in "\"'":
        return m.group(0)  # <add key="Name" .../>: the XML pass decides
    head = f"{m.group('key')}{m.group('close')}{m.group('sep')}{m.group('scheme') or ''}"
    if value[0] in "\"'":
        return f"{head}{value[0]}{count.mask()}{value[0]}"
    trailing = ""
    if ":" in m.group("sep"):
        # "key": null} of JSON or YAML: keep what closes the structure, and its literals
        stripped = value.rstrip(",}])")
        trailing, value = value[len(stripped) :], stripped
        if value.lower() in ("null", "true", "false", "~", "") or value[0] in "{[":
            return m.group(0)
    if m.group("close") == '"':
        return f'{head}"{count.mask()}"{trailing}'
    return f"{head}{count.mask()}{trailing}"


def _option(m: re.Match[str], count: _Counter) -> str:
    value = m.group("value")
    if not is_secret_name(m.group("name")) or _is_masked(value) or _PLAIN_OPTION.match(value):
        return m.group(0)
    return f"{m.group('opt')}{m.group('sep')}{count.mask()}"


def _within(pattern: re.Pattern[str], inner: re.Pattern[str], text: str, count: _Counter) -> str:
    """``inner``'s second group masked, only inside the stretches ``pattern`` finds."""
    return pattern.sub(lambda m: inner.sub(lambda i: _masked_group(i, count), m.group(0)), text)


def _line_passes(text: str, count: _Counter) -> str:
    """The passes that work within one line (of a log, a config, a command line)."""
    if "'" in text or '"' in text:
        text = _JSON_PAIR.sub(lambda m: _json_pair(m, count), text)
    text = _BRACED.sub(
        lambda m: (
            m.group(0)
            if not is_secret_name(m.group("key"))
            else f"{m.group('key')}{m.group('sep')}{count.mask()}"
        ),
        text,
    )
    # URLs and Oracle's user/password@ first: their passwords may hold "-u" or ":"
    text = _JDBC_ORACLE.sub(lambda m: _masked_group(m, count), text)
    text = _ORACLE_TOOLS.sub(lambda m: _masked_group(m, count), text)
    text = _USERID.sub(lambda m: _masked_group(m, count), text)
    text = _USER_SLASH_PASS.sub(lambda m: _masked_group(m, count), text)
    text = _URL_CREDS.sub(lambda m: _masked_group(m, count), text)
    text = _COOKIE.sub(lambda m: _masked_group(m, count), text)
    text = _USER_PASS.sub(lambda m: _masked_group(m, count, 4), text)
    for tool, option in _LETTER_TOOLS:
        text = _within(tool, option, text, count)
    text = _PAIR.sub(lambda m: _pair(m, count), text)
    text = _OPTION.sub(lambda m: _option(m, count), text)
    text = _PROSE.sub(lambda m: _masked_group(m, count, 3), text)
    text = _PROSE_IS.sub(lambda m: _masked_group(m, count, 3), text)
    text = _IDENTIFIED.sub(lambda m: _masked_group(m, count), text)
    text = _BEARER.sub(lambda m: _masked_group(m, count), text)
    text = _KNOWN_TOKENS.sub(lambda m: count.mask(), text)
    return _CANDIDATE.sub(lambda m: count.mask() if secret_shaped(m.group(0)) else m.group(0), text)


def scrub_counted(text: str) -> tuple[str, int]:
    """``text`` with secrets masked, and how many were masked."""
    if not _TRIGGER.search(text):
        return text, 0
    count = _Counter()
    text = _multiline(text, count)
    text = _line_passes(text, count)
    return text, count.n


def scrub(text: str) -> str:
    """``text`` with passwords, tokens, private keys and credentials masked."""
    return scrub_counted(text)[0]


def scrub_mapping(values: Mapping[str, str]) -> tuple[dict[str, str], int]:
    """An environment or config section with secret-named values masked."""
    out: dict[str, str] = {}
    masked = 0
    for key, value in values.items():
        if is_secret_pair(key, value):
            out[key] = MASK
            masked += 1
        else:
            out[key], n = scrub_counted(value)
            masked += n
    return out, masked


def _program(names: str) -> re.Pattern[str]:
    return re.compile(rf"(?i)^(?:{names})(?:\.exe)?$")


#: programs whose password is the value of a bare option letter: (program, option, glued
#: only). MySQL's "-p x" asks for the password and names database x: only "-px" holds one.
_PASSWORD_LETTERS: tuple[tuple[re.Pattern[str], str, bool], ...] = (
    (_program(r"sqlcmd|osql|isql|bcp"), "-P", False),
    (_program(r"mysql\w*|mariadb\w*"), "-p", True),
    (_program(r"psexec(?:64)?|paexec|sshpass"), "-p", False),
    (_program(r"ldap\w+"), "-w", False),
)
_LOGIN_TOOLS = _program(r"docker|podman|nerdctl")
_USER_OPTIONS = frozenset({"-u", "-U", "--user", "--proxy-user"})


def _user_pass(value: str) -> str | None:
    """``user:password`` (or smbclient's ``user%password``) with the password masked;
    None when ``value`` holds no password."""
    found = re.match(r"^([^:%]+[:%])(.+)$", value)
    if found is None or _is_masked(found.group(2)):
        return None
    return found.group(1) + MASK


def _password_letter(argv: Sequence[str]) -> tuple[str, bool] | None:
    """The option letter that carries a password for this program, and whether only
    its glued form (``-px``) does."""
    program = re.split(r"[\\/]", argv[0])[-1] if argv else ""
    for pattern, option, glued_only in _PASSWORD_LETTERS:
        if pattern.match(program):
            return option, glued_only
    if _LOGIN_TOOLS.match(program) and len(argv) > 1 and argv[1] == "login":
        return "-p", False
    return None


def _net_use_password(argv: Sequence[str]) -> int | None:
    """Where the password of ``net use [drive] \\\\server\\share PASSWORD`` is."""
    program = re.split(r"[\\/]", argv[0])[-1] if argv else ""
    if not re.match(r"(?i)^net(?:\.exe)?$", program) or len(argv) < 3:
        return None
    if argv[1].lower() != "use":
        return None
    for i, arg in enumerate(argv[2:-1], start=2):
        if arg.startswith("\\\\"):
            following = argv[i + 1]
            return i + 1 if not following.startswith("/") and following != "*" else None
    return None


def scrub_argv(argv: Sequence[str]) -> tuple[list[str], int]:
    """A command line with option values that are secrets masked.

    Handles ``--password=x``, ``--password x`` (also when ``x`` starts with a
    dash), ``/Password:x``, programs whose password is an option letter (MySQL's
    glued ``-px``, SQL Server tools' ``-P x``, psexec and sshpass ``-p x``, LDAP
    tools' ``-w x``, ``docker login -p x``), ``net use``'s positional password,
    and ``user:password`` after ``-u``/``--user`` (``user%password`` too).
    """
    out: list[str] = []
    masked = 0
    letter = _password_letter(argv)
    net_use = _net_use_password(argv)
    hide_next = user_next = False
    for index, arg in enumerate(argv):
        if index == net_use and not _is_masked(arg):
            out.append(MASK)
            masked += 1
            continue
        if hide_next:
            hide_next = False
            if not _PLAIN_OPTION.match(arg):
                out.append(MASK)
                masked += 1
                continue
        if user_next:
            user_next = False
            hidden = _user_pass(arg)
            if hidden is not None:
                out.append(hidden)
                masked += 1
                continue
        if letter and index and arg.startswith(letter[0]) and not arg.startswith("--"):
            flag, glued_only = letter
            if len(arg) > len(flag):
                out.append(flag + MASK)
                masked += 1
                continue
            if arg == flag and not glued_only:
                out.append(arg)
                hide_next = True
                continue
        if arg in _USER_OPTIONS:
            out.append(arg)
            user_next = True
            continue
        glued = re.match(r"^(--(?:proxy-)?user=|-u)(.+)$", arg)
        if glued and _user_pass(glued.group(2)) is not None:
            out.append(glued.group(1) + str(_user_pass(glued.group(2))))
            masked += 1
            continue
        option = re.match(r"^(--?|/)([\w.-]+)([=:])?(.*)$", arg, re.S)
        if option and is_secret_pair(option.group(2), option.group(4)):
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


_CONFIG_LINE = re.compile(r"^(\s*[\"']?([A-Za-z_][\w .$-]{0,80}?)[\"']?\s*[=:]\s*)(\S.*?)(\s*)$")
_SECTION = re.compile(r"^\s*\[([^\]\n]{1,80})\]\s*$")
#: a YAML block scalar's indicator: the value follows on the lines below
_YAML_BLOCK = re.compile(r"^[|>][-+0-9]*$")
#: a pgpass line: host:port:database:user:password
_PGPASS = re.compile(r"^(\s*[^:\s#]+:(?:\d{1,5}|\*):[^:\s]+:[^:\s]+:)(.+?)(\s*)$")


def _scrub_json(value: Any, count: _Counter) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            secret = is_secret_pair(str(key), str(item))
            if secret and item is not None and not isinstance(item, bool | dict | list):
                out[key] = count.mask()
            else:
                out[key] = _scrub_json(item, count)
        return out
    if isinstance(value, list):
        return [_scrub_json(item, count) for item in value]
    if isinstance(value, str):
        cleaned, n = scrub_counted(value)
        count.n += n
        return cleaned
    return value


def scrub_config(text: str) -> tuple[str, int]:
    """A config file (INI, .conf, .properties, pgpass, XML, JSON) with secrets masked,
    and how many.

    JSON is read as JSON and written back with the values of secret-named keys
    masked. Otherwise a line whose key names a secret loses its whole value,
    spaces included, as does every line of a section named like a secret
    (``[credentials]``); XML elements and attributes are masked across lines;
    every other line goes through ``scrub``.
    """
    count = _Counter()
    first = text.lstrip("\ufeff \t\r\n")[:1]
    if first in ("{", "["):
        try:
            data = json.loads(text.lstrip("\ufeff"))
        except ValueError:
            pass
        else:
            cleaned = _scrub_json(data, count)
            return json.dumps(cleaned, indent=2, ensure_ascii=False) + "\n", count.n
    text = _multiline(text, count)
    lines = []
    secret_section = False
    block: int | None = None  # the indent of a secret YAML key whose value is a block
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        indent = len(body) - len(body.lstrip())
        if block is not None:
            if not body.strip():
                lines.append(line)
                continue
            if indent > block:
                lines.append(f"{body[:indent]}{count.mask()}{ending}")
                continue
            block = None
        section = _SECTION.match(body)
        if section:
            secret_section = is_secret_name(section.group(1))
            lines.append(line)
            continue
        match = _CONFIG_LINE.match(body)
        comment = body.lstrip().startswith(("#", ";"))
        pgpass = _PGPASS.match(body)
        if (
            match
            and first != "<"  # XML, whose attributes can continue on the next line
            and not comment
            and (is_secret_pair(match.group(2), match.group(3)) or secret_section)
        ):
            if _YAML_BLOCK.match(match.group(3)):
                block = indent  # "key: |": the value is the more indented lines below
            if not _is_masked(match.group(3)):
                body = f"{match.group(1)}{count.mask()}"
        elif pgpass and not comment and not _is_masked(pgpass.group(2)):
            body = f"{pgpass.group(1)}{count.mask()}"
        else:
            body = _line_passes(body, count) if _TRIGGER.search(body) else body
        lines.append(body + ending)
    return "".join(lines), count.n
