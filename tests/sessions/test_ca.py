"""The CA: certificates read back by asyncssh and by OpenSSH's own ssh-keygen."""

from __future__ import annotations

import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncssh
import pytest

from vxassist.desk.ca import (
    BadPublicKey,
    CaError,
    CertificateAuthority,
    inspect_certificate,
    parse_public_key,
    scopes_from_extensions,
)

NOW = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)


def _pub(kind: str = "ssh-ed25519", **kw: int) -> str:
    return asyncssh.generate_private_key(kind, **kw).export_public_key().decode()


def test_ca_keys_are_made_once_private_and_shared_by_every_instance(tmp_path: Path) -> None:
    one = CertificateAuthority(tmp_path / "ca")
    line = one.user_ca_public_key
    assert line.startswith("ssh-ed25519 ")
    assert one.user_ca_public_key != one.host_ca_public_key
    for name in ("user_ca", "host_ca"):
        assert stat.S_IMODE((tmp_path / "ca" / name).stat().st_mode) == 0o600
    assert CertificateAuthority(tmp_path / "ca").user_ca_public_key == line
    assert sorted(p.name for p in (tmp_path / "ca").iterdir()) == ["host_ca", "user_ca"]


def test_user_certificate_carries_the_grant(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    engineer_key = _pub()
    cert = ca.sign_user_key(
        engineer_key,
        key_id="alice/case-7/session-abc123abc123",
        principals=["abc123abc123"],
        not_before=NOW,
        not_after=NOW + timedelta(minutes=30),
        scopes=["shell", "files", "forward:127.0.0.1:3389"],
    )
    parsed = asyncssh.import_certificate(cert)
    assert parsed.principals == ["abc123abc123"]
    assert (
        parsed.signing_key.export_public_key().decode().split()[:2]
        == (ca.user_ca_public_key.split()[:2])
    )
    info = inspect_certificate(cert)
    assert info.cert_type == "user"
    assert info.key_id == "alice/case-7/session-abc123abc123"
    assert info.valid_after == NOW - timedelta(seconds=30)
    assert info.valid_before == NOW + timedelta(minutes=30)
    assert info.key == " ".join(engineer_key.split()[:2])
    assert info.critical_options == ()  # no source-address: it breaks through the tunnel
    assert "permit-pty" in info.extensions
    assert "permit-port-forwarding" in info.extensions
    assert "permit-agent-forwarding" not in info.extensions
    assert "permit-X11-forwarding" not in info.extensions
    assert "permit-user-rc" not in info.extensions
    assert scopes_from_extensions(info.extensions) == (
        "files",
        "forward:127.0.0.1:3389",
        "shell",
    )

    # OpenSSH itself reads the same fields
    path = tmp_path / "id-cert.pub"
    path.write_text(cert + "\n")
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True, check=True
    ).stdout
    assert 'Key ID: "alice/case-7/session-abc123abc123"' in shown
    assert "abc123abc123" in shown
    assert "vx-scope-files@vxassist" in shown


def test_files_only_certificate_allows_no_pty_and_no_forwarding(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    cert = ca.sign_user_key(
        _pub(),
        key_id="k",
        principals=["p"],
        not_before=NOW,
        not_after=NOW + timedelta(minutes=5),
        scopes=["files"],
    )
    assert inspect_certificate(cert).extensions == ("vx-scope-files@vxassist",)
    assert asyncssh.import_certificate(cert).options == {}


def test_host_certificate_names_the_agent(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    host_key = _pub()
    info = inspect_certificate(ca.sign_host_key(host_key, principal="vx-agent1", now=NOW))
    assert info.cert_type == "host"
    assert info.principals == ("vx-agent1",)
    assert info.signing_key == " ".join(ca.host_ca_public_key.split()[:2])
    assert info.valid_after <= NOW < info.valid_before


def test_empty_window_is_refused(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    with pytest.raises(CaError):
        ca.sign_user_key(
            _pub(), key_id="k", principals=["p"], not_before=NOW, not_after=NOW, scopes=["shell"]
        )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ssh-ed25519",
        "ssh-ed25519 !!!notbase64",
        "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC0lf6tWynbDvXrmB7T3sYOc/Tw62DjVXbwhsaMlS5A/"
        "\nssh-ed25519 AAAA",
    ],
)
def test_bad_public_keys_are_refused(text: str) -> None:
    with pytest.raises(BadPublicKey):
        parse_public_key(text)


def test_key_type_must_match_its_blob() -> None:
    blob = _pub().split()[1]
    with pytest.raises(BadPublicKey):
        parse_public_key(f"ecdsa-sha2-nistp256 {blob}")


def test_certificate_is_not_a_public_key(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca")
    cert = ca.sign_user_key(
        _pub(),
        key_id="k",
        principals=["p"],
        not_before=NOW,
        not_after=NOW + timedelta(1),
        scopes=["shell"],
    )
    with pytest.raises(BadPublicKey):
        parse_public_key(cert)


def test_short_rsa_key_is_refused() -> None:
    with pytest.raises(BadPublicKey):
        parse_public_key(_pub("ssh-rsa", key_size=1024))
    assert parse_public_key(_pub("ssh-rsa", key_size=2048)).key_type == "ssh-rsa"


def test_workers_starting_together_share_one_ca(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def start() -> str:
        return CertificateAuthority(tmp_path / "ca").user_ca_public_key

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: start(), range(16)))
    assert len(keys) == 1
    assert sorted(p.name for p in (tmp_path / "ca").iterdir()) == ["user_ca"]


def test_damaged_ca_key_is_reported_not_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "ca"
    folder.mkdir()
    (folder / "user_ca").write_text("not a key")
    with pytest.raises(CaError):
        _ = CertificateAuthority(folder).user_ca_public_key
    assert (folder / "user_ca").read_text() == "not a key"
