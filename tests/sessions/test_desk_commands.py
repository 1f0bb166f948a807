"""The broker's desk commands: ``serve --relay``, ``ca show``, relay-keys refusing quietly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sessions.conftest import RELAY_KEY, new_key
from vxassist import cli
from vxassist.cli import build_parser
from vxassist.desk.config import DeskConfig
from vxassist.desk.sessions.cli import apply_relay_args
from vxassist.errors import UsageError


def test_serve_relay_options_set_the_relay(tmp_path: Path) -> None:
    key = tmp_path / "relay_host_key.pub"
    key.write_text(RELAY_KEY + " root@relay\n")
    args = build_parser().parse_args(
        ["desk", "serve", "--relay", "relay.example.com:2200", "--relay-host-key", str(key)]
    )
    relay = apply_relay_args(DeskConfig(), args).sessions.relay
    assert (relay.host, relay.port) == ("relay.example.com", 2200)
    assert relay.known_hosts == RELAY_KEY + " root@relay"
    for bad in ("relay.example.com", "relay:0", ":22", "relay:x"):
        args = build_parser().parse_args(["desk", "serve", "--relay", bad])
        with pytest.raises(UsageError):
            apply_relay_args(DeskConfig(), args)


def test_relay_section_of_the_config_file(tmp_path: Path) -> None:
    from vxassist.desk.config import load_desk_config
    from vxassist.errors import ConfigError

    key = tmp_path / "k.pub"
    key.write_text(RELAY_KEY + "\n")
    good = tmp_path / "desk.toml"
    good.write_text(
        f'[relay]\nhost = "r.example"\nport = 22\nknown_hosts_file = "{key}"\n'
        "port_min = 30000\nport_max = 30010\n[sessions]\nrequest_timeout_s = 90\n"
    )
    cfg = load_desk_config(good).sessions
    assert cfg.relay.known_hosts == RELAY_KEY
    assert (cfg.relay.port_min, cfg.relay.port_max, cfg.request_timeout_s) == (30000, 30010, 90)
    bad = tmp_path / "bad.toml"
    bad.write_text("[relay]\nport_min = 30010\nport_max = 30000\n")
    with pytest.raises(ConfigError):
        load_desk_config(bad)


def test_ca_show_prints_both_public_keys_and_keeps_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["desk", "ca", "show", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["known_hosts_line"] == f"@cert-authority vx-* {first['host_ca_public_key']}"
    assert cli.main(["desk", "ca", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == first


def test_relay_keys_prints_nothing_without_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'missing.sqlite3'}"
    blob = new_key()[1].split()[1]
    assert cli.main(["desk", "relay-keys", "--db", url, "vxagent", "ssh-ed25519", blob]) == 0
    out = capsys.readouterr()
    assert out.out == ""
    assert "refused" in out.err
    assert (
        cli.main(["desk", "relay-keys", "--db", "mysql://x/y", "vxeng", "ssh-ed25519", blob]) == 0
    )
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "entry",
    [
        "from vxassist import cli; cli.main(['desk', 'relay-keys', '--db', URL, 'vxeng', T, K])",
        "from vxassist.desk import relay_keys; relay_keys.main(['--db', URL, 'vxeng', T, K])",
    ],
)
def test_relay_keys_loads_no_web_or_orm_library(tmp_path: Path, entry: str) -> None:
    import subprocess
    import sys

    from vxassist.desk.db import upgrade

    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    upgrade(url)
    kind, blob = new_key()[1].split()[:2]
    code = (
        f"import sys; URL, T, K = {url!r}, {kind!r}, {blob!r}; {entry};"
        "heavy = ('fastapi', 'sqlalchemy', 'uvicorn', 'asyncssh', 'pydantic', 'requests');"
        "print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules), file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout == ""  # unknown key: refused, silently
    assert [ln for ln in out.stderr.splitlines() if ln.startswith("HEAVY=")] == ["HEAVY="]
