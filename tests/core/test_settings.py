from __future__ import annotations

import os
from pathlib import Path

import pytest

from vxassist.errors import ConfigError
from vxassist.paths import Paths
from vxassist.settings import load_settings, policy_file_trusted


def test_vxassist_home_holds_every_folder(paths: Paths, vx_home: Path) -> None:
    for folder in (paths.config_dir, paths.data_dir, paths.log_dir, paths.cache_dir):
        assert folder.is_relative_to(vx_home)
    assert paths.outbox_dir.is_relative_to(vx_home)
    assert paths.audit_dir.is_relative_to(vx_home)


def test_defaults_without_files(paths: Paths) -> None:
    s = load_settings(paths)
    assert s.support.email == "support@communicado-inc.com"
    assert s.remote.enabled and not s.remote.unattended


def test_user_cannot_loosen_policy(paths: Paths) -> None:
    paths.policy_file.write_text(
        '[remote]\nscopes = ["files"]\nmax_minutes = 30\nunattended = false\n'
    )
    paths.settings_file.write_text(
        '[remote]\nscopes = ["shell", "files"]\nmax_minutes = 600\nunattended = true\n'
    )
    s = load_settings(paths)
    assert s.remote.scopes == frozenset({"files"})
    assert s.remote.max_minutes == 30
    assert s.remote.unattended is False


def test_user_can_tighten_policy(paths: Paths) -> None:
    paths.settings_file.write_text("[remote]\nenabled = false\nmax_minutes = 15\n")
    s = load_settings(paths)
    assert s.remote.enabled is False
    assert s.remote.max_minutes == 15


def test_what_the_user_leaves_out_keeps_the_policy_s_value(paths: Paths) -> None:
    # an administrator's longer limit and extra targets hold for a user who set nothing
    paths.policy_file.write_text(
        '[remote]\nmax_minutes = 240\nforward_targets = ["127.0.0.1:3389", "127.0.0.1:8443"]\n'
        '[desk]\nurl = "https://desk.example.com/"\n'
    )
    paths.policy_file.chmod(0o644)
    paths.settings_file.write_text('desk_url = "https://elsewhere.example.com"\n')
    s = load_settings(paths)
    assert s.remote.max_minutes == 240
    assert s.remote.forward_targets == ("127.0.0.1:3389", "127.0.0.1:8443")
    # the machine's desk wins over the user's
    assert s.desk_url == s.machine_desk_url == "https://desk.example.com"
    paths.settings_file.write_text("[remote]\nmax_minutes = 30\nforward_targets = []\n")
    s = load_settings(paths)
    assert s.remote.max_minutes == 30 and s.remote.forward_targets == ()


def test_enrolling_elsewhere_than_the_policy_s_desk_is_refused(paths: Paths) -> None:
    from vxassist.cases.enroll import EnrollError, enroll
    from vxassist.secrets import open_secret_store

    paths.policy_file.write_text('[desk]\nurl = "https://desk.example.com"\n')
    paths.policy_file.chmod(0o644)
    with pytest.raises(EnrollError) as refused:
        enroll(paths, open_secret_store(paths, "keyring"), "https://other.example.com", "ABCD")
    assert refused.value.message == (
        "This computer's administrator set the support desk to https://desk.example.com; "
        "enroll with --desk https://desk.example.com."
    )


@pytest.mark.skipif(os.name == "nt" or os.geteuid() != 0, reason="needs root to chown")
def test_policy_writable_by_others_is_not_trusted(paths: Paths) -> None:
    paths.policy_file.write_text("[remote]\nunattended = true\nenabled = true\n")
    paths.policy_file.chmod(0o666)
    assert policy_file_trusted(paths.policy_file)[0] is False
    s = load_settings(paths)
    assert s.remote.enabled is False and s.remote.unattended is False
    os.chown(paths.policy_file, 1000, 1000)
    paths.policy_file.chmod(0o644)
    assert policy_file_trusted(paths.policy_file)[0] is False


def test_bad_toml_is_a_sentence(paths: Paths) -> None:
    paths.settings_file.write_text("desk_url = [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_settings(paths)
    assert "not valid TOML" in err.value.message
