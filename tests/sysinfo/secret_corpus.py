"""Planted secrets in every form the system report reads, on one recorded host.

The files live in ``tests/data/secrets/``; this module plants them, plus process
command lines and environments, into the recorded Debian host, and lists what
must never come out (``SECRETS``) and what must come out unchanged (``KEPT``).
Add a form here when one is found: every output is scanned for all of them.
"""

from __future__ import annotations

import base64
import json
import random
from pathlib import Path
from typing import Any

from tests.fakes.probe_recorded import RecordedProbe
from tests.sysinfo.conftest import DEBIAN, WINDOWS

CORPUS = Path(__file__).resolve().parent.parent / "data" / "secrets"

#: the corpus files and where they sit on the recorded host
PLACED = {
    "VXTrackerService.exe.config": "/opt/vxtracker/VXTrackerService.exe.config",
    "settings.xml": "/opt/vxtracker/settings.xml",
    "env.conf": "/opt/vxtracker/etc/env.conf",
    "pgpass.conf": "/opt/vxtracker/conf/pgpass.conf",
    "keystore.jks": "/opt/vxtracker/conf/keystore.jks",
    "appsettings.json": "/opt/vxtracker/config/appsettings.json",
    "agent.yml": "/opt/vxtracker/config/agent.yml",
    "corpus.log": "/opt/vxtracker/logs/corpus.log",
}
#: the log whose tail cuts a private key: BEGIN line gone, body kept
CUT_KEY_LOG = "/opt/vxtracker/logs/cut-key.log"
#: what ``log_tail_bytes`` keeps of a log (rules.toml)
TAIL = 16384

_rng = random.Random(1234)
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: the body of the cut private key, one 64-character line each
KEY_LINES = ["".join(_rng.choice(_B64) for _ in range(64)) for _ in range(25)]
#: a base64 block dumped with no BEGIN or END line at all
LOOSE_BLOCK = ["".join(_rng.choice(_B64) for _ in range(64)) for _ in range(3)]


def cut_key_log() -> str:
    """A log whose last ``TAIL`` bytes start inside a private key's body."""
    head = "".join(
        f"2026-11-20 09:{i // 60:02d}:{i % 60:02d} INFO heartbeat {i}\n" for i in range(40)
    )
    key = (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        + "".join(line + "\n" for line in KEY_LINES)
        + "-----END RSA PRIVATE KEY-----\n"
    )
    loose = "2026-11-20 10:30:00 DEBUG dump follows\n" + "".join(x + "\n" for x in LOOSE_BLOCK)
    # the tail starts 3 lines and a bit into the key's body
    start = len(head) + len("-----BEGIN RSA PRIVATE KEY-----\n") + 3 * 65 + 10
    body_end = len(head) + len(key) + len(loose)
    trailer_len = TAIL - (body_end - start)
    trailer = ""
    n = 0
    while len(trailer) < trailer_len:
        trailer += f"2026-11-20 10:{n // 60 % 60:02d}:{n % 60:02d} INFO record {n:06d} stored\n"
        n += 1
    trailer = trailer[len(trailer) - trailer_len :]
    trailer = "\n" + trailer[1:]  # the trailer must begin on a line of its own
    text = head + key + loose + trailer
    assert len(text) - TAIL == start, (len(text) - TAIL, start)
    return text


#: the planted VXTracker helper processes (names match the VXTracker rules)
PROCESSES: list[dict[str, Any]] = [
    {
        "pid": 1300,
        "ppid": 1200,
        "name": "vxcollector",
        "exe": "/opt/vxtracker/bin/vxcollector",
        "cmdline": [
            "/opt/vxtracker/bin/vxcollector",
            "--smdr-host",
            "192.168.10.5",
            "--api-token",
            "Corp-ArgToken-61",
            "--db-password",
            "-Corp-ArgDash-62",
            "--user=vxapi:Corp-ArgUser-63",
            "-u",
            "vxapi:Corp-ArgCurlU-64",
            "--dsn",
            "Server=vxdb01;Pwd=Corp-ArgConn-65",
            "-v",
        ],
        "username": "vxtracker",
    },
    {
        "pid": 1301,
        "ppid": 1200,
        "name": "vxtracker-backup",
        "exe": "/bin/sh",
        "cmdline": [
            "/bin/sh",
            "-c",
            "sqlcmd -S vxdb01 -U sa -P Corp-ShSqlcmd-66 && mysql -uvx -pCorp-ShMysql-67 vx",
        ],
        "username": "vxtracker",
    },
    {
        "pid": 1302,
        "ppid": 1200,
        "name": "vxtracker-sync",
        "exe": "/opt/mssql-tools/bin/sqlcmd",
        "cmdline": [
            "/opt/mssql-tools/bin/sqlcmd",
            "-S",
            "vxdb01",
            "-U",
            "sa",
            "-P",
            "Corp-ArgvSqlcmd-68",
        ],
        "username": "vxtracker",
    },
    {
        "pid": 1303,
        "ppid": 1200,
        "name": "vxtracker-dump",
        "exe": "/usr/bin/mysqldump",
        "cmdline": ["mysqldump", "-uvx", "-pCorp-ArgvMysql-69", "vxtracker"],
        "username": "vxtracker",
    },
]

#: the environment of the planted collector
ENVIRONMENT = {
    "PWD": "/opt/vxtracker",
    "OLDPWD": "/home/vxtracker",
    "LANG": "C.UTF-8",
    "DBPW": "Corp-EnvDbpw-70",
    "VX_CONN": "Server=vxdb01;User Id=sa;Password=Corp-EnvConn-71",
    "ODBC_DSN": "Driver={ODBC Driver 17};Server=vxdb01;PWD=Corp-EnvOdbc-72",
    "DATABASE_URL": "postgres://vx:Corp-EnvUrl-73@vxdb01/vx",
    "ORACLE_CONNECT": "vxapp/Corp-EnvOracle-74@VXPDB",
    "JAVA_OPTS": "-Dspring.datasource.password=Corp-EnvJava-75 -Xmx512m",
    "VX_CACHE_ID": "Zq8Xk2Wm5Tn9Rb4Yc7Vd1Hf3Jg6Lp0Sa",
    "HTTP_COOKIE": "vxauth=Corp-EnvCookie-76",
}

#: a process the report is not about, listening on a port
OTHER_PROCESS: dict[str, Any] = {
    "pid": 2200,
    "ppid": 2100,
    "name": "node",
    "exe": "/usr/bin/node",
    "cmdline": ["node", "/home/operator1/dash/server.js", "--api-token", "Corp-OtherProc-80"],
    "username": "operator1",
}

#: every planted secret: none may appear in any output
SECRETS: list[str] = [
    *(
        f"Corp-{name}"
        for name in (
            "AddKey-01",
            "AddValueFirst-02",
            "ConnStr-03",
            "NetInline-04",
            "NetMultiline-05",
            "NetWrapped-06",
            "AttrWrapped-07",
            "Element-08",
            "ElementMultiline-09",
            "Cdata-10",
            "EncKey-11",
            "AttrSecret-12",
            "CredPass-13",
            "Dbpw-14",
            "SaPwd-15",
            "PassInName-16",
            "VxPass-17",
            "JdbcThin-19",
            "RedisNoUser-21",
            "SectionValue-22",
            "Pgpass-23",
            "Pgpass-Star-24",
            "JsonConn-25",
            "JsonPass-27",
            "JsonApiKey-28",
            "CurlUser-30",
            "UserEq-31",
            "UserSpace-32",
            "Sqlcmd-33",
            "SqlcmdGlued-34",
            "MysqlGlued-35",
            "MysqldumpEq-36",
            "Dash-37",
            "Cookie-38",
            "Cookie-39",
            "SetCookie-40",
            "Prose-41",
            "ProseIs-42",
            "Sqlplus-46",
            "JdbcLog-47",
            "LogConn-48",
            "JsonLog-49",
            "SetDbpw-53",
            "CreateLogin-55",
            "Identified-56",
            "Keystore-60",
            "Keystore-61",
            "ArgToken-61",
            "ArgDash-62",
            "ArgUser-63",
            "ArgCurlU-64",
            "ArgConn-65",
            "ShSqlcmd-66",
            "ShMysql-67",
            "ArgvSqlcmd-68",
            "ArgvMysql-69",
            "EnvDbpw-70",
            "EnvConn-71",
            "EnvOdbc-72",
            "EnvUrl-73",
            "EnvOracle-74",
            "EnvJava-75",
            "EnvCookie-76",
            "OtherProc-80",
            "Psexec-90",
            "Sshpass-91",
            "Smb-92",
            "NetUse-93",
            "Ldap-94",
            "Docker-95",
            "Plink-96",
            "Yaml-97",
            "YamlBlock-98",
            "YamlBlock-99",
        )
    ),
    "Corp two words 18",
    "two words 18",
    "braces;20",
    'Json\\"Quoted-26',
    "Quoted-26",
    'Json\\"Esc-50',
    "Esc-50",
    "4711000028",
    "4711000051",
    "AKIAIOSFODNN7CORP043",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCORP044KEY",
    "x9Fq2LmZ7rT4vB8nK3pW6sY1dG5hJ0cQ",
    "Q29ycC1CYXNpYy01Mjp4eA",
    "eyJzdWIiOiJDb3JwLTU0In0",
    "Corp54signatureX9",
    "Zq8Xk2Wm5Tn9Rb4Yc7Vd1Hf3Jg6Lp0Sa",
    *KEY_LINES,
    *LOOSE_BLOCK,
]

#: shown as they are (without --anonymize): not secrets, however they look
KEPT: list[str] = [
    "PWD=/opt/vxtracker",
    "OLDPWD=/home/vxtracker",
    "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "10.11.6-MariaDB-0+deb12u1",
    "/var/lib/VXTracker2/Data",
    '<add key="ServerName" value="vxdb01" />',
    '<add key="PBXManufacturer" value="Avaya" />',
    "<value>mail.example.com</value>",
    "<Host>vxdb01</Host>",
    '"Default": "Information"',
    "record 000100 stored",
    "endpoint: https://upload.example.com/cdr",
    "retries: 3",
    "docker login -u vx -p ********",
]


#: the Windows host: VXTracker writes UTF-16 (with a byte-order mark) and cp1252 there
WIN_INSTALL = "C:\\Program Files (x86)\\Communicado\\VXTracker"
WIN_PLACED = {
    "VXTrackerService.exe.config": (WIN_INSTALL + "\\Corpus.exe.config", "utf-16"),
    "settings.xml": (WIN_INSTALL + "\\settings.xml", "utf-16"),
    "env.conf": (WIN_INSTALL + "\\etc\\env.conf", "cp1252"),
    "pgpass.conf": (WIN_INSTALL + "\\conf\\pgpass.conf", "cp1252"),
    "keystore.jks": (WIN_INSTALL + "\\conf\\keystore.jks", ""),
    "appsettings.json": (WIN_INSTALL + "\\config\\appsettings.json", "utf-8-sig"),
    "agent.yml": (WIN_INSTALL + "\\config\\agent.yml", "utf-8"),
    "corpus.log": (WIN_INSTALL + "\\Logs\\corpus.log", "utf-16"),
}
WIN_CUT_KEY_LOG = WIN_INSTALL + "\\Logs\\cut-key.log"
#: the recorded hosts the corpus is planted on
HOSTS = ("debian", "windows")


def _entry(raw: bytes) -> dict[str, Any]:
    return {"b64": base64.b64encode(raw).decode(), "mtime": 1795168000}


def corpus_files(host: str = "debian") -> dict[str, dict[str, Any]]:
    """The recorded host's ``files`` entries for the corpus."""
    files: dict[str, dict[str, Any]] = {}
    if host == "windows":
        for name, (path, encoding) in WIN_PLACED.items():
            raw = (CORPUS / name).read_bytes()
            if encoding:
                text = raw.decode("utf-8").replace("\n", "\r\n")
                raw = text.encode(encoding)
            files[path] = _entry(raw)
        files[WIN_CUT_KEY_LOG] = _entry(cut_key_log().encode())
        return files
    for name, path in PLACED.items():
        files[path] = _entry((CORPUS / name).read_bytes())
    files[CUT_KEY_LOG] = {"text": cut_key_log(), "mtime": 1795168900}
    return files


def placed(host: str) -> tuple[list[str], str]:
    """Where the corpus files and the cut-key log sit on ``host``."""
    if host == "windows":
        return [path for path, _ in WIN_PLACED.values()], WIN_CUT_KEY_LOG
    return list(PLACED.values()), CUT_KEY_LOG


def corpus_probe(host: str = "debian") -> RecordedProbe:
    """A recorded host (Debian, or Windows) with every corpus item planted."""
    machine = WINDOWS if host == "windows" else DEBIAN
    base = RecordedProbe(machine).data
    files = {**base["files"], **corpus_files(host)}
    if host == "windows":
        dirs = [*base["dirs"], *(WIN_INSTALL + "\\" + d for d in ("etc", "conf", "config"))]
    else:
        dirs = [*base["dirs"], "/opt/vxtracker/conf", "/opt/vxtracker/config"]
    environ = {**base["environ"], "1300": dict(ENVIRONMENT)}
    processes = [*base["processes"], *PROCESSES, OTHER_PROCESS]
    sockets = [
        *base["sockets"],
        {
            "proto": "tcp",
            "laddr": "0.0.0.0",
            "lport": 8080,
            "raddr": "",
            "rport": 0,
            "status": "LISTEN",
            "pid": 2200,
        },
        {
            "proto": "tcp",
            "laddr": "0.0.0.0",
            "lport": 9200,
            "raddr": "",
            "rport": 0,
            "status": "LISTEN",
            "pid": 1300,
        },
    ]
    return RecordedProbe(
        machine,
        overrides={
            "files": files,
            "dirs": dirs,
            "environ": environ,
            "processes": processes,
            "sockets": sockets,
        },
    )


def json_documents(text: str) -> list[Any]:
    """The JSON payloads of the corpus log's ``payload {...}`` lines, parsed."""
    return [
        json.loads(line.split("payload ", 1)[1])
        for line in text.splitlines()
        if "payload {" in line
    ]
