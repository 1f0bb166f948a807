"""The cleaner's pure parts: scrub, command lines, environments, configs, aliases."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vxassist.redact import (
    MASK,
    Anonymizer,
    is_secret_name,
    scrub,
    scrub_argv,
    scrub_config,
    scrub_mapping,
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password=hunter2", "hunter2"),
        ("Server=db;User Id=sa;Password=Pa55;Database=x", "Pa55"),
        ("Driver={SQL Server};Pwd={a b;c};Uid=sa", "a b;c"),
        ("<Password>xyz123</Password>", "xyz123"),
        ('<add key="DbPassword" value="abc123" />', "abc123"),
        ('<add name="x" connectionString="Password=q9q9;Server=s" />', "q9q9"),
        ("postgres://sa:Pa55w0rd@db/x", "Pa55w0rd"),
        ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ('"api_key": "zzz-key"', "zzz-key"),
        ("LicenseKey=VX-1-2-3", "VX-1-2-3"),
        ('{"password": "two words"}', "words"),
        ("db_password='a b c' next=1", "b c"),
        (
            "x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            "MIIEow",
        ),
    ],
)
def test_scrub_masks_secrets(text: str, secret: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned
    assert "********" in cleaned or "REMOVED" in cleaned


def test_scrub_leaves_ordinary_text() -> None:
    text = "Server=db01;Database=VXTracker;Version=7.4.2"
    assert scrub(text) == text


def test_argv_forms() -> None:
    argv, n = scrub_argv(
        ["mysql", "-psecret", "--password", "abc", "--token=xyz", "/Password:foo", "-u", "root"]
    )
    assert argv == [
        "mysql",
        "-p" + MASK,
        "--password",
        MASK,
        "--token=" + MASK,
        "/Password:" + MASK,
        "-u",
        "root",
    ]
    assert n == 4
    # a secret option followed by another option hides nothing it should not
    assert scrub_argv(["app", "--password", "-v"])[0] == ["app", "--password", "-v"]
    assert scrub_argv(["app", "DB_PASSWORD=x1"])[0] == ["app", f"DB_PASSWORD={MASK}"]


def test_environment_masks_by_name() -> None:
    env, n = scrub_mapping(
        {"PGPASSWORD": "a", "MYSQL_PWD": "b", "HOME": "/root", "URL": "https://u:p4ss@h/"}
    )
    assert env == {
        "PGPASSWORD": MASK,
        "MYSQL_PWD": MASK,
        "HOME": "/root",
        "URL": f"https://u:{MASK}@h/",
    }
    assert n == 3
    assert is_secret_name("SmtpPassword") and not is_secret_name("ServerName")
    assert is_secret_name("EncryptionKey") and is_secret_name("SESSION_COOKIE")
    assert not is_secret_name("KeyboardLayout") and not is_secret_name("Monkeys")


def test_config_lines_lose_whole_values() -> None:
    text = "[db]\r\nPassword = two words\r\nUser = sa\r\nsecret: a b c\n"
    cleaned, n = scrub_config(text)
    assert cleaned == f"[db]\r\nPassword = {MASK}\r\nUser = sa\r\nsecret: {MASK}\n"
    assert n == 2


def test_anonymizer_is_consistent() -> None:
    a = Anonymizer()
    a.learn("host", ["vxhost01.corp.example", "vxhost01"])
    a.learn("user", ["jdoe"])
    a.learn_addresses(["10.9.8.7"])
    text = a.apply("jdoe@vxhost01 -> 10.1.2.3, 10.1.2.3; 127.0.0.1 fe80::1 at 12:30:00")
    assert "jdoe" not in text and "vxhost01" not in text and "10.1.2.3" not in text
    assert text.count("ip-") == 3
    assert text.split(" -> ")[1].split(",")[0] == text.split(", ")[1].split(";")[0]
    assert "127.0.0.1" in text and "12:30:00" in text
    assert a.apply("Version=7.4.2.118") == "Version=7.4.2.118"
    assert a.apply("Version=10.9.8.7") != "Version=10.9.8.7"  # a known address stays hidden
    assert a.apply("mail.acme.local") == a.apply("MAIL.ACME.LOCAL".lower())


def test_mac_addresses_get_stable_aliases() -> None:
    a = Anonymizer()
    text = a.apply("eth0 08:00:27:4e:66:a1, NIC 00-50-56-A1-B2-C3, again 08:00:27:4E:66:A1")
    assert "4e:66" not in text.lower() and "A1-B2-C3" not in text
    assert text == "eth0 mac-1, NIC mac-2, again mac-1"
    # the same card written the other way is the same card
    assert a.apply("08-00-27-4E-66-A1") == "mac-1"
    # nothing to hide, and no MAC at all: kept
    assert a.apply("lo 00:00:00:00:00:00") == "lo 00:00:00:00:00:00"
    assert a.apply("fe80::a00:27ff:fe4e:66a1 at 12:30:00").startswith("ip-")
    assert a.apply("build 08:00:27:4e:66") == "build 08:00:27:4e:66"


_SECRET_CHARS = string.ascii_letters + string.digits + "!#$%+/=?@^_~"


@given(
    key=st.sampled_from(["password", "DB_PASSWORD", "api_key", "token", "Pwd", "client_secret"]),
    value=st.text(alphabet=_SECRET_CHARS, min_size=6, max_size=30),
    sep=st.sampled_from(["=", ": ", " = ", "="]),
)
def test_no_secret_survives_key_value_forms(key: str, value: str, sep: str) -> None:
    for text in (f"{key}{sep}{value}", f"x {key}{sep}{value} y", f'"{key}"{sep}"{value}"'):
        assert value not in scrub(text), text
        assert value not in scrub_config(text)[0], text
    assert value not in " ".join(scrub_argv(["app", f"--{key}", value])[0])
    assert value not in " ".join(scrub_argv(["app", f"--{key}={value}"])[0])
