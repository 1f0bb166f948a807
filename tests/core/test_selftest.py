"""``vxassist self-test``: run as a customer would, against a real desk on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.desk import RunningDesk, unique_contract
from tests.fixtures.relay import Relay, running_relay
from vxassist.paths import Paths
from vxassist.selftest import (
    Check,
    Status,
    check_qt,
    check_relay,
    check_secrets,
    check_ssh_crypto,
    fail,
    ok,
    run_checks,
)

NAMES = [
    "qt",
    "secrets",
    "system",
    "outbox",
    "audit",
    "drafts",
    "ssh",
    "policy",
    "desk",
    "version",
    "relay",
]


def vxassist(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``vxassist`` in a child, with the test's VXASSIST_HOME and policy path."""
    return subprocess.run(
        [sys.executable, "-m", "vxassist", *args],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def self_test_json() -> tuple[int, dict[str, Any]]:
    done = vxassist("self-test", "--json")
    return done.returncode, json.loads(done.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in report["checks"]}


@pytest.fixture(autouse=True)
def file_secrets(vx_home: Path) -> None:
    """A child process cannot use the tests' in-memory keyring: the documented file store."""
    (vx_home / "config").mkdir(parents=True, exist_ok=True)
    (vx_home / "config" / "settings.toml").write_text(
        'secrets_backend = "file"\n', encoding="utf-8"
    )


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Relay]:
    """A real OpenSSH relay on loopback, the one the desk hands to enrolled hosts."""
    with running_relay(tmp_path_factory.mktemp("selftest-relay")) as running:
        yield running


@pytest.fixture(scope="module")
def desk_config(tmp_path_factory: pytest.TempPathFactory, relay: Relay) -> Path:
    config = tmp_path_factory.mktemp("selftest-desk-config") / "desk.toml"
    config.write_text(
        f'[relay]\nhost = "{relay.host}"\nport = {relay.port}\n'
        f'known_hosts = "{relay.host_key_line()}"\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="module")
def shared_desk(
    tmp_path_factory: pytest.TempPathFactory, desk_config: Path
) -> Iterator[RunningDesk]:
    with RunningDesk(tmp_path_factory.mktemp("selftest-desk"), desk_config) as running:
        yield running


@pytest.fixture
def desk(tmp_path: Path, desk_config: Path) -> Iterator[RunningDesk]:
    """A desk of this test's own, which it may stop."""
    with RunningDesk(tmp_path / "desk", desk_config) as running:
        yield running


def enroll(desk: RunningDesk) -> None:
    contract = unique_contract(desk)
    code = desk.enrollment_code(contract["contract_id"])
    done = vxassist("enroll", "--desk", desk.url, "--code", code)
    assert done.returncode == 0, done.stderr


# -- the whole command ------------------------------------------------------------


def test_an_enrolled_host_passes_every_check_against_a_real_desk(
    shared_desk: RunningDesk, relay: Relay
) -> None:
    enroll(shared_desk)
    done = vxassist("self-test")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == NAMES
    assert all(line.startswith("ok ") for line in lines[:-1]), done.stdout
    assert "all 11 checks passed" in lines[-1]
    assert f"the desk at {shared_desk.url} answers" in done.stdout
    assert f"the relay at {relay.host}:{relay.port} answers." in done.stdout
    # the tests' conftest chose offscreen: that counts as the plugin loading
    assert "the Qt platform plugin 'offscreen' loads." in done.stdout


def test_json_has_the_checks_the_verdict_and_the_version() -> None:
    from vxassist import __version__

    code, report = self_test_json()
    assert code == 0
    assert set(report) == {"checks", "ok", "version"}
    assert report["ok"] is True and report["version"] == __version__
    assert [c["name"] for c in report["checks"]] == NAMES
    for check in report["checks"]:
        assert set(check) == {"name", "status", "sentence"}
        assert check["status"] in {"ok", "warn", "fail"}
        assert check["sentence"].endswith(".")


def test_not_enrolled_is_a_note_not_a_failure() -> None:
    code, report = self_test_json()
    checks = by_name(report)
    assert code == 0 and report["ok"] is True
    for name in ("desk", "relay"):
        assert checks[name]["status"] == "ok"
        assert checks[name]["sentence"].startswith("not enrolled:")
    assert checks["version"]["status"] == "ok"
    assert "not enrolled: there is no desk to ask" in checks["version"]["sentence"]


def test_a_desk_that_is_down_fails_its_check_and_the_others_still_run(
    desk: RunningDesk,
) -> None:
    enroll(desk)
    desk.stop()
    code, report = self_test_json()
    checks = by_name(report)
    assert code == 1 and report["ok"] is False
    assert checks["desk"]["status"] == "fail"
    assert "cannot be reached" in checks["desk"]["sentence"]
    assert [c["name"] for c in report["checks"]] == NAMES
    assert [n for n, c in checks.items() if c["status"] != "ok"] == ["desk"]


def test_a_group_writable_policy_fails_its_check_and_the_exit_status(vx_home: Path) -> None:
    policy = vx_home / "policy.toml"
    policy.write_text("[remote]\nenabled = false\n", encoding="utf-8")
    policy.chmod(0o664)
    done = vxassist("self-test")
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if x.split()[1] == "policy")
    assert line.startswith("fail")
    assert f"the machine policy {policy} can be changed by others than administrators" in line
    assert "writable by group or others" in line
    assert "1 of 11 checks failed" in done.stdout


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="root must own the policy")
def test_a_root_owned_policy_that_only_root_writes_passes(vx_home: Path) -> None:
    policy = vx_home / "policy.toml"
    policy.write_text("[remote]\nenabled = false\n", encoding="utf-8")
    policy.chmod(0o644)
    code, report = self_test_json()
    assert code == 0
    assert "only administrators can change it" in by_name(report)["policy"]["sentence"]


def test_no_policy_says_defaults_apply() -> None:
    _, report = self_test_json()
    assert by_name(report)["policy"]["sentence"].startswith("no machine policy: defaults apply")


# -- the parts ------------------------------------------------------------------


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def test_a_hanging_or_raising_check_stops_none_of_the_others(release: threading.Event) -> None:
    def hangs() -> Any:
        release.wait()
        return ok("never seen")

    def raises() -> Any:
        raise RuntimeError("boom")

    results = run_checks(
        [
            Check("hangs", hangs, bound_s=0.5),
            Check("raises", raises),
            Check("fails", lambda: fail("the part is broken.")),
            Check("fine", lambda: ok("the part works.")),
        ]
    )
    assert [(r.name, r.status) for r in results] == [
        ("hangs", Status.FAIL),
        ("raises", Status.FAIL),
        ("fails", Status.FAIL),
        ("fine", Status.OK),
    ]
    assert "did not finish within 0.5 s" in results[0].sentence
    assert "RuntimeError: boom" in results[1].sentence


def test_no_display_means_the_headless_agent() -> None:
    outcome = check_qt({}, platform_name="linux")
    assert outcome == ok("no display: the headless agent will be used.")


def test_a_qt_abort_in_the_child_fails_the_check_only(tmp_path: Path) -> None:
    aborting = tmp_path / "python"
    aborting.write_text("#!/bin/sh\necho 'qt.qpa.plugin: could not load xcb' >&2\nkill -ABRT $$\n")
    aborting.chmod(0o755)
    outcome = check_qt({"DISPLAY": ":99"}, python=str(aborting))
    assert outcome.status == Status.FAIL
    assert "could not load xcb" in outcome.sentence


def test_the_keyring_backend_keeps_and_gives_back(paths: Paths) -> None:
    # the tests' in-memory keyring stands in for the OS one
    assert check_secrets(paths, "keyring").status == Status.OK


def test_a_keyring_that_does_not_work_fails_with_what_to_do(paths: Paths) -> None:
    import keyring
    from keyring.backends import fail as fail_backend

    keyring.set_keyring(fail_backend.Keyring())
    results = run_checks([Check("secrets", lambda: check_secrets(paths, "keyring"))])
    assert results[0].status == Status.FAIL
    assert 'secrets_backend = "file"' in results[0].sentence


def test_ssh_crypto_signs_and_verifies() -> None:
    assert check_ssh_crypto(datetime.now(UTC)).status == Status.OK


def test_the_relay_answers_or_not() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        relay = {"relay": {"host": "127.0.0.1", "port": port}}
        assert check_relay(relay, 5.0) == ok(f"the relay at 127.0.0.1:{port} answers.")
    down = check_relay(relay, 5.0)
    assert down.status == Status.FAIL
    assert f"the relay at 127.0.0.1:{port} does not answer" in down.sentence
    assert check_relay({"agent_id": "a-1"}, 5.0).status == Status.OK
