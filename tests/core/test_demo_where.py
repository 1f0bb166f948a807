"""The demo says where it keeps its data, the host's audit trail and the recordings."""

from __future__ import annotations

from pathlib import Path

from vxassist.demo import DemoStack
from vxassist.paths import Paths


def test_the_demo_names_its_data_audit_trail_and_recordings(tmp_path: Path) -> None:
    stack = DemoStack(tmp_path / "demo")
    host = Paths.from_env(stack.host_env())
    where = stack.where()
    assert where["audit_dir"] == str(host.audit_dir)
    assert where["recordings_dir"] == str(host.recordings_dir)
    assert where["audit_dir"].startswith(str(tmp_path / "demo"))
    assert where["desk_database"] == stack.db_url
    text = stack.where_text()
    for key in ("data_dir", "audit_dir", "recordings_dir"):
        assert where[key] in text
    assert "asciinema play" in text and "audit trail" in text
    facts = stack.facts()
    assert facts["audit_dir"] == where["audit_dir"]
    assert facts["recordings_dir"] == where["recordings_dir"]


def test_the_demo_banner_names_the_console_its_accounts_and_the_mail_folder(
    tmp_path: Path,
) -> None:
    from vxassist.demo import DEMO_ENGINEER_PASSWORD, DEMO_MANAGER, DEMO_MANAGER_PASSWORD

    stack = DemoStack(tmp_path / "demo")
    stack.desk_port = 8740
    stack.case_number = 1001
    off = stack.console_text()
    assert "http://127.0.0.1:8740/console/" in off
    assert DEMO_ENGINEER_PASSWORD in off and DEMO_MANAGER in off and DEMO_MANAGER_PASSWORD in off
    assert "case show 1001" in off and "Mail is off" in off  # no mail server started
    stack.start_mail()
    try:
        assert f"filed in {tmp_path / 'demo' / 'mail'}/" in stack.console_text()
        facts = stack.facts()
        assert facts["mail_dir"] == str(tmp_path / "demo" / "mail")
        assert facts["console_accounts"][DEMO_MANAGER] == DEMO_MANAGER_PASSWORD
    finally:
        stack.stop()
