"""The decisions behind several relays and CA rotation, without servers: the desk's
[[relays]] configuration, placement, the CA folder through a rotation, the relay's
sshd line. The whole deployment runs in test_vendor_side.py."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import pytest

from vxassist.desk.ca import (
    CaError,
    CertificateAuthority,
    UnknownUserCa,
    fingerprint,
    inspect_certificate,
)
from vxassist.desk.config import config_from_mapping
from vxassist.desk.sessions.config import SessionsConfig, sessions_config_from_mapping
from vxassist.desk.sessions.placement import RelayGone, choose_relay, relay_of
from vxassist.errors import ConfigError
from vxassist.relay import RelayConfigError, render

ROOT = Path(__file__).resolve().parents[2]
TWO = """
[[relays]]
name = "relay-a"
host = "a.example.com"
port = 2222
known_hosts = "ssh-ed25519 AAAAa"

[[relays]]
name = "relay-b"
host = "b.example.com"
port = 2223
known_hosts = "ssh-ed25519 AAAAb"
"""


def test_relays_are_read_in_order_and_one_relay_stays_the_default() -> None:
    cfg = sessions_config_from_mapping(tomllib.loads(TWO), Path("desk.toml"))
    assert [r.name for r in cfg.relays] == ["relay-a", "relay-b"]
    assert cfg.relay.host == "a.example.com" and cfg.relays[1].port == 2223
    single = sessions_config_from_mapping(
        tomllib.loads('[relay]\nhost = "r.example.com"\n'), Path("desk.toml")
    )
    assert [r.name for r in single.relays] == ["default"]


@pytest.mark.parametrize(
    "text",
    [
        TWO + '[relay]\nhost = "x"\n',  # both forms
        TWO.replace('"relay-b"', '"relay-a"'),  # one name twice
        TWO.replace('"relay-b"', '"relay b; rm"'),  # goes into sshd's command line
        "relays = []\n",
    ],
)
def test_a_relay_list_the_desk_cannot_use_is_a_sentence(text: str) -> None:
    with pytest.raises(ConfigError):
        sessions_config_from_mapping(tomllib.loads(text), Path("desk.toml"))


def test_the_shipped_desk_toml_example_is_a_valid_configuration(tmp_path: Path) -> None:
    text = (ROOT / "installer" / "desk" / "desk.toml.example").read_text()
    for name in ("relay-a", "relay-b"):
        (tmp_path / f"{name}.pub").write_text(f"ssh-ed25519 AAAA{name}\n")
        text = text.replace(f"/etc/vxassist/{name}.pub", str(tmp_path / f"{name}.pub"))
    cfg = config_from_mapping(tomllib.loads(text), Path("desk.toml"))
    assert [r.name for r in cfg.sessions.relays] == ["relay-a", "relay-b"]
    assert cfg.sessions.relays[1].known_hosts == "ssh-ed25519 AAAArelay-b"
    assert cfg.max_body_bytes == 4 * 1024 * 1024  # what the nginx site allows
    site = (ROOT / "installer" / "desk" / "vxassist-desk.nginx").read_text()
    assert "client_max_body_size 4m;" in site
    # the proxy waits longer than the longest long poll
    # the proxy waits longer than the longest long poll, the example's and the default's
    found = re.search(r"proxy_read_timeout (\d+)s;", site)
    assert found is not None
    assert int(found.group(1)) > max(cfg.sessions.max_wait_s, SessionsConfig().max_wait_s)


def test_placement_fills_the_emptiest_relay_and_a_host_stays_where_it_was() -> None:
    cfg = sessions_config_from_mapping(tomllib.loads(TWO), Path("desk.toml"))
    assert choose_relay(cfg, {}).name == "relay-a"  # a tie: the first
    assert choose_relay(cfg, {"relay-a": 1}).name == "relay-b"
    assert choose_relay(cfg, {"relay-a": 3, "relay-b": 2}).name == "relay-b"
    # hosts placed before relays had names count on the first relay
    assert choose_relay(cfg, {None: 5, "relay-b": 4}).name == "relay-b"
    assert choose_relay(cfg, {"relay-a": 9}, previous="relay-a").name == "relay-a"
    # a relay no longer configured: placed afresh
    assert choose_relay(cfg, {"relay-a": 9}, previous="gone").name == "relay-b"
    assert relay_of(cfg, None).name == "relay-a"
    assert relay_of(cfg, "relay-b").host == "b.example.com"
    with pytest.raises(RelayGone):
        relay_of(cfg, "gone")


def _sign(ca: CertificateAuthority, key: asyncssh.SSHKey, trusted: str | None) -> str:
    now = datetime.now(UTC)
    return ca.sign_user_key(
        key.export_public_key().decode(),
        key_id="jdoe case 1",
        principals=["s1"],
        not_before=now,
        not_after=now + timedelta(minutes=5),
        scopes=["shell"],
        ca=ca.user_ca_for(trusted),
    )


def _signer(certificate: str, key: asyncssh.SSHKey) -> bool:
    blob = key.export_public_key().decode().split()[1]
    return inspect_certificate(certificate).signing_key.split()[1] == blob


def test_a_rotation_keeps_the_old_cas_trusted_until_they_are_retired(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    engineer = asyncssh.generate_private_key("ssh-ed25519")
    old_user, old_host = ca.user_ca, ca.host_ca
    before = fingerprint(old_user)
    assert ca.previous("user") is None and len(ca.host_ca_public_keys.splitlines()) == 1

    # another process (the CLI) rotates; this one sees it at its next use
    CertificateAuthority(tmp_path / "ca").rotate("user")
    CertificateAuthority(tmp_path / "ca").rotate("host")
    assert fingerprint(ca.user_ca) != before
    assert fingerprint(ca.previous("user")) == before  # type: ignore[arg-type]
    keys = ca.host_ca_public_keys.splitlines()
    assert len(keys) == 2
    assert keys[1].split()[1] == old_host.export_public_key().decode().split()[1]
    with pytest.raises(CaError, match="retire"):
        ca.rotate("user")

    # each host gets certificates from the CA it trusts: the old one, or (None) the
    # one of before any rotation, or the new one
    assert _signer(_sign(ca, engineer, before), old_user)
    assert _signer(_sign(ca, engineer, None), old_user)
    assert _signer(_sign(ca, engineer, ca.user_ca_fingerprint), ca.user_ca)

    retired = ca.retire("user")
    assert retired is not None and fingerprint(retired) == before
    assert ca.previous("user") is None
    assert ca.retire("user") is None
    with pytest.raises(UnknownUserCa):
        ca.user_ca_for(before)
    assert _signer(_sign(ca, engineer, None), ca.user_ca)
    assert any(p.name.startswith("retired-user_ca-") for p in (tmp_path / "ca").iterdir())
    assert (tmp_path / "ca" / "user_ca").stat().st_mode & 0o777 == 0o600


def test_the_relay_config_names_its_relay_in_the_key_lookup() -> None:
    args = {
        "desk_db_url": "postgresql+psycopg://relay@db/vxdesk",
        "port": 2222,
        "listen": "0.0.0.0",
        "etc": "/etc/vxassist-relay",
        "vxassist": "/usr/local/bin/vxassist",
    }
    named = render(**args, relay="relay-b")  # type: ignore[arg-type]
    assert "desk relay-keys --relay relay-b --db postgresql" in named
    assert "--relay" not in render(**args)  # type: ignore[arg-type]
    with pytest.raises(RelayConfigError):
        render(**args, relay="b %u")  # type: ignore[arg-type]
