from __future__ import annotations

import logging
import stat

import keyring
import pytest
from keyring.backends import fail

from vxassist.errors import SecretsError
from vxassist.logs import setup_logging
from vxassist.paths import Paths
from vxassist.secrets import FileSecretStore, KeyringSecretStore, open_secret_store


def test_keyring_round_trip(paths: Paths) -> None:
    store = open_secret_store(paths, "keyring")
    store.set("desk-token", "abc")
    assert store.get("desk-token") == "abc"
    store.delete("desk-token")
    store.delete("desk-token")
    assert store.get("desk-token") is None


def test_no_keyring_says_what_to_do(paths: Paths) -> None:
    keyring.set_keyring(fail.Keyring())
    store = KeyringSecretStore(paths.settings_file)
    with pytest.raises(SecretsError) as err:
        store.set("desk-token", "abc")
    assert 'secrets_backend = "file"' in err.value.message
    assert str(paths.settings_file) in err.value.message


def test_file_store_is_private(paths: Paths) -> None:
    store = open_secret_store(paths, "file")
    assert isinstance(store, FileSecretStore)
    store.set("desk-token", "s3cr3t")
    assert store.get("desk-token") == "s3cr3t"
    mode = stat.S_IMODE((paths.data_dir / "secrets.json").stat().st_mode)
    assert mode == 0o600


def test_log_file_has_no_secrets(paths: Paths) -> None:
    handler = setup_logging(paths, "DEBUG")
    log = logging.getLogger("vxassist.test")
    log.info("connecting with password=%s to %s", "hunter2", "postgres://sa:Pa55w0rd@db/x")
    log.info("header Authorization: Bearer abcdefghijklmnop")
    try:
        raise ValueError("token=deadbeefcafe")
    except ValueError:
        log.exception("failed")
    handler.flush()
    text = paths.log_file.read_text()
    for secret in ("hunter2", "Pa55w0rd", "abcdefghijklmnop", "deadbeefcafe"):
        assert secret not in text
    assert "connecting with password=" in text
