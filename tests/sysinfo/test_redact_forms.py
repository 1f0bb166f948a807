"""The forms of secrets the field test found, one by one, and what must stay."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vxassist.redact import (
    MASK,
    is_secret_pair,
    scrub,
    scrub_argv,
    scrub_config,
    scrub_mapping,
    secret_shaped,
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            '<setting name="SmtpPassword" serializeAs="String"><value>s3cr3t-a</value></setting>',
            "s3cr3t-a",
        ),
        ('<setting name="DbPwd">\n  <value>\n    s3cr3t-b\n  </value>\n</setting>', "s3cr3t-b"),
        ("<ApiToken>\n  s3cr3t-c\n</ApiToken>", "s3cr3t-c"),
        ("<Secret><![CDATA[s3cr3t-d]]></Secret>", "s3cr3t-d"),
        ('<network host="h"\n   password="s3cr3t-e" />', "s3cr3t-e"),
        ('<add value="s3cr3t-f" key="SmtpPass" />', "s3cr3t-f"),
        ("jdbc:oracle:thin:scott/s3cr3t-g@db01:1521:ORCL", "s3cr3t-g"),
        ("DBPW=s3cr3t-h", "s3cr3t-h"),
        ("SA_PWD=s3cr3t-i", "s3cr3t-i"),
        ("curl -u api:s3cr3t-j https://pbx/", "s3cr3t-j"),
        ("curl --user=api:s3cr3t-k https://pbx/", "s3cr3t-k"),
        ("sqlcmd -S db -U sa -P s3cr3t-l -Q x", "s3cr3t-l"),
        ("mysql -uvx -ps3cr3t-m vx", "s3cr3t-m"),
        ("tool --db-password -s3cr3t-n --out x", "s3cr3t-n"),
        ("Cookie: sid=s3cr3t-o; other=s3cr3t-p", "s3cr3t-p"),
        ("failed with password 's3cr3t-q'", "s3cr3t-q"),
        ("key AKIAIOSFODNN7EXAMPL1 used", "AKIAIOSFODNN7EXAMPL1"),
        ("secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY used", "wJalrXUtnFEMI/K7MDENG"),
        ("sqlplus vx/s3cr3t-r@ORCL", "s3cr3t-r"),
        ("Driver={x};Server=s;PWD=s3cr3t-s;", "s3cr3t-s"),
        ("ALTER USER vx IDENTIFIED BY s3cr3t-t", "s3cr3t-t"),
        ("redis://:s3cr3t-u@cache:6379/0", "s3cr3t-u"),
        (
            "x\nAAAAB3NzaC1yc2EAAAADAQABAAABAQCs3cr3tvAAAAB3NzaC1yc2EAAAADAQABAAAB\n"
            "QCs3cr3tvAAAAB3NzaC1yc2EAAAADAQABAAABAQCs3cr3tvAAAAB3NzaC1yc2EAAAA\n"
            "-----END OPENSSH PRIVATE KEY-----\n",
            "QCs3cr3tv",
        ),
    ],
)
def test_each_form_is_masked(text: str, secret: str) -> None:
    assert secret not in scrub(text), text
    assert secret not in scrub_config(text)[0], text


def test_pgpass_lines_lose_their_password() -> None:
    cleaned, n = scrub_config("db01:5432:vx:vxuser:s3cr3t-pg\n*:*:*:postgres:an:other\n")
    assert cleaned == f"db01:5432:vx:vxuser:{MASK}\n*:*:*:postgres:{MASK}\n"
    assert n == 2


def test_the_working_folder_is_not_a_password() -> None:
    env, n = scrub_mapping({"PWD": "/opt/vx", "OLDPWD": "/home/vx", "DBPWD": "x"})
    assert env == {"PWD": "/opt/vx", "OLDPWD": "/home/vx", "DBPWD": MASK} and n == 1
    assert scrub("cd; PWD=/opt/vx OLDPWD=C:\\Users\\vx") == "cd; PWD=/opt/vx OLDPWD=C:\\Users\\vx"
    # ODBC's PWD is a password, and so is a PWD variable holding no folder
    assert not is_secret_pair("PWD", "/opt/vx") and is_secret_pair("PWD", "hunter2")
    assert scrub("Uid=sa;PWD=hunter2;") == f"Uid=sa;PWD={MASK};"


@pytest.mark.parametrize(
    "line",
    [
        '{"auth": "pa\\"ss", "n": 1}',
        '{"auth": null, "n": 1}',
        '{"password": 12345}',
        '{"auth": "pa\'ss"}',
        '{"token": "", "auth": "pass"}',
        '{"Authorization": "Bearer abcdefghijk", "cookie": "a=b; c=d"}',
        '{"user": {"password": "x", "name": "y"}, "list": [{"secret": true}]}',
    ],
)
def test_masking_keeps_json_valid(line: str) -> None:
    cleaned = scrub(line)
    assert json.loads(cleaned).keys() == json.loads(line).keys(), cleaned
    for secret in ("pa", "12345", "pass", "abcdefghijk", "a=b"):
        assert f'"{secret}' not in cleaned.replace('"password"', "")


def test_json_config_is_read_as_json() -> None:
    text = '{"Smtp": {"Password": "a \\" b", "Port": 25, "auth": null}, "Name": "vx"}'
    cleaned, n = scrub_config(text)
    assert json.loads(cleaned) == {
        "Smtp": {"Password": MASK, "Port": 25, "auth": None},
        "Name": "vx",
    }
    assert n == 1


def test_argv_forms_of_the_field_test() -> None:
    assert scrub_argv(["sqlcmd", "-S", "db", "-P", "x1"])[0] == ["sqlcmd", "-S", "db", "-P", MASK]
    assert scrub_argv(["sqlcmd.exe", "-Px1"])[0] == ["sqlcmd.exe", "-P" + MASK]
    assert scrub_argv(["curl", "-u", "api:x2", "h"])[0] == ["curl", "-u", f"api:{MASK}", "h"]
    assert scrub_argv(["curl", "--user=api:x3"])[0] == ["curl", f"--user=api:{MASK}"]
    assert scrub_argv(["curl", "-uapi:x4"])[0] == ["curl", f"-uapi:{MASK}"]
    assert scrub_argv(["tool", "--password", "-x5!"])[0] == ["tool", "--password", MASK]
    # an option after a secret option is an option, and a user without a password a user
    assert scrub_argv(["tool", "--password", "--verbose"])[0] == ["tool", "--password", "--verbose"]
    assert scrub_argv(["mysql", "-u", "root", "-P", "3306"])[0] == [
        "mysql",
        "-u",
        "root",
        "-P",
        "3306",
    ]
    assert scrub_argv(["sh", "-c", "mysql -pX9 db"])[0] == ["sh", "-c", f"mysql -p{MASK} db"]


@pytest.mark.parametrize(
    "value",
    [
        "x9Fq2LmZ7rT4vB8nK3pW6sY1dG5hJ0cQ",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "Q29ycC1CYXNpYy01Mjp4eA==",
    ],
)
def test_secret_shaped_values(value: str) -> None:
    assert secret_shaped(value)
    assert value not in scrub(f"id {value} end")


@pytest.mark.parametrize(
    "value",
    [
        "VXTrackerServiceInstance2024",
        "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "10.11.6-MariaDB-0+deb12u1",
        "/var/lib/VXTracker2/Data/Archive2024",
        "KB5034439-x64-Windows10",
        "SQLEXPRESS2019_x64_ENU",
        "Win32_OperatingSystem_2019",
        "S-1-5-21-3623811015-3361044348-30300820-1013",
        "libgstreamer-plugins-base1.0-0",
    ],
)
def test_what_only_looks_like_a_secret(value: str) -> None:
    assert not secret_shaped(value)
    assert scrub(f"id {value} end") == f"id {value} end"


def test_programs_whose_password_is_an_option_letter() -> None:
    unc = "\\\\nas01\\cdr"
    assert scrub_argv(["net", "use", "Z:", unc, "pw1", "/user:vx"])[0] == [
        "net", "use", "Z:", unc, MASK, "/user:vx",
    ]  # fmt: skip
    assert scrub_argv(["net", "use", unc, "*", "/user:vx"])[0] == [
        "net",
        "use",
        unc,
        "*",
        "/user:vx",
    ]
    assert scrub_argv(["psexec64.exe", "-u", "vx", "-p", "pw2"])[0][-1] == MASK
    assert scrub_argv(["sshpass", "-p", "pw3", "ssh", "h"])[0] == [
        "sshpass",
        "-p",
        MASK,
        "ssh",
        "h",
    ]
    assert scrub_argv(["smbclient", "//nas/cdr", "-U", "vx%pw4"])[0][-1] == f"vx%{MASK}"
    assert scrub_argv(["ldapsearch", "-x", "-w", "pw5"])[0][-1] == MASK
    assert scrub_argv(["docker", "login", "-u", "vx", "-p", "pw6"])[0][-1] == MASK
    # the same letters mean something else elsewhere
    assert scrub_argv(["docker", "run", "-p", "8080:80", "img"])[0][3] == "8080:80"
    assert scrub_argv(["mysql", "-u", "root", "-p", "vxdb"])[0][-1] == "vxdb"
    text = f"net use Z: {unc} pw7 /user:vx; psexec -p pw8 cmd; sshpass -p pw9 ssh h"
    assert all(pw not in scrub(text) for pw in ("pw7", "pw8", "pw9")), scrub(text)


def test_a_yaml_block_under_a_secret_key_is_masked_whole() -> None:
    text = "a:\n  private_key: |\n    line-one\n\n    line-two\n  port: 22\nb: 1\n"
    cleaned, n = scrub_config(text)
    assert "line-one" not in cleaned and "line-two" not in cleaned
    assert cleaned.endswith("  port: 22\nb: 1\n") and n == 3


_PASSWORD_CHARS = string.ascii_letters + string.digits + "!#$%+/=?@^_~-.*()[]{}|:,>"


@given(
    template=st.sampled_from(
        [
            "curl -u api:{} https://pbx01/",
            "postgres://vx:{}@db01/vx",
            "jdbc:oracle:thin:scott/{}@db01:1521:ORCL",
            "sqlcmd -S db -U sa -P {} -Q x",
            "mysql -uvx -p{} vx",
            "password={}",
            "Server=db;Password={};Database=vx",
            "--db-password {}",
            "sqlplus vx/{}@ORCL",
        ]
    ),
    secret=st.text(alphabet=_PASSWORD_CHARS, min_size=8, max_size=24),
)
def test_no_password_survives_whatever_it_holds(template: str, secret: str) -> None:
    """Passwords hold '@', ':', '/', ',' and '{': no part of one may survive."""
    cleaned = scrub(template.format(secret))
    context = template.replace("{}", "\0")
    leaked = [
        secret[i : i + 5]
        for i in range(len(secret) - 4)
        if secret[i : i + 5] in cleaned and secret[i : i + 5] not in context
    ]
    assert not leaked, cleaned


def test_hashes_listed_one_per_line_are_not_a_key() -> None:
    hashes = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n" * 3
    assert scrub(hashes) == hashes
