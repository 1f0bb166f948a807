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
