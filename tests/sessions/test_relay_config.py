"""``vxassist desk relay-config``: the shipped template, filled in for a machine.

The installer writes this output to /etc/vxassist-relay/sshd_config; sshd itself
checks it here (``sshd -t``), with the relay accounts given to sshd alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.relay import Relay
from vxassist.relay import TEMPLATE, render_local

VX = [sys.executable, "-m", "vxassist"]


def relay_config(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VX, "desk", "relay-config", *args], capture_output=True, text=True, timeout=60
    )


def test_the_installed_config_is_the_template_filled_in_and_sshd_accepts_it(
    tmp_path: Path,
) -> None:
    relay = Relay(tmp_path / "relay")  # a host key and the accounts, for sshd -t
    done = relay_config(
        "--db",
        "postgresql+psycopg://relay@db.internal/vxdesk",
        "--port",
        "2299",
        "--listen",
        "127.0.0.1",
        "--etc",
        str(relay.folder),
        "--vxassist",
        "/opt/vxassist/bin/vxassist",
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    settings = [line for line in text.splitlines() if not line.startswith("#")]
    assert "@" not in "\n".join(settings).replace("relay@db", "")
    assert "Port 2299" in text and "ListenAddress 127.0.0.1" in text
    assert (
        "AuthorizedKeysCommand /opt/vxassist/bin/vxassist desk relay-keys "
        "--db postgresql+psycopg://relay@db.internal/vxdesk %u %t %k"
    ) in text
    assert f"HostKey {relay.folder}/ssh_host_ed25519_key" in text
    # every hardening line of the template is there, unchanged
    for line in TEMPLATE.read_text().splitlines():
        if "@" not in line:
            assert line in text.splitlines(), line
    config = tmp_path / "sshd_config"
    config.write_text(text)
    check = subprocess.run(
        ["/usr/sbin/sshd", "-t", "-f", str(config)], capture_output=True, env=relay._env()
    )
    assert check.returncode == 0, check.stderr


def test_a_database_url_sshd_would_split_is_refused_with_a_sentence() -> None:
    done = relay_config("--db", "sqlite:////srv/my desk/desk.sqlite3")
    assert done.returncode != 0
    assert "without spaces or '%'" in done.stderr
    assert done.stdout == ""


def test_the_local_relay_keeps_every_hardening_line(tmp_path: Path) -> None:
    """The demo, the benchmark and the tests run the template, changed only for a folder."""
    text = render_local(tmp_path, 40022, ["/bin/true"]).splitlines()
    changed = ("Port", "ListenAddress", "HostKey", "PidFile", "AuthorizedKeysCommand")
    for line in TEMPLATE.read_text().splitlines():
        if not line.startswith(changed):
            assert line in text, line
    assert "ListenAddress 127.0.0.1:40022" in text
    assert "AuthorizedKeysCommand /bin/true" in text
    assert "AuthorizedKeysCommandUser root" in text and "StrictModes no" in text
