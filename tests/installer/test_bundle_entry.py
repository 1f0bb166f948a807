"""The bundle's entry point does what the interpreter would for ``-c`` and ``-m``.

The agent starts ``sys.executable`` as a Python interpreter (the self-test's Qt
probe, a session's keeper, a login item); in the bundle that is vxassist itself.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ENTRY = Path(__file__).parents[2] / "installer" / "bundle" / "entry.py"


def _entry() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vxassist_bundle_entry", ENTRY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_keepers_command_line_runs_its_code_with_its_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(sys, "argv", ["/opt/vxassist/vxassist"])
    code = "import sys; SEEN.append(list(sys.argv))"
    module = _entry()
    namespaces: list[dict[str, object]] = []

    def run(compiled: object, namespace: dict[str, object]) -> None:
        namespace["SEEN"] = seen  # the code's globals, given a list to report into
        namespaces.append(namespace)
        exec(compiled, namespace)

    monkeypatch.setattr(module, "exec", run, raising=False)
    assert module._as_interpreter(["-I", "-S", "-c", code, "VXASSIST_KEEPER", "tok"]) == 0
    assert seen == [["-c", "VXASSIST_KEEPER", "tok"]]
    assert namespaces[0]["__name__"] == "__main__"


def test_vxassist_commands_are_left_to_the_command_line() -> None:
    module = _entry()
    for argv in ([], ["self-test"], ["--version"], ["-v", "agent"], ["-c"]):
        assert module._as_interpreter(argv) is None


def test_a_login_item_of_the_bundle_starts_the_program_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vxassist.ui.platform import launch_command

    assert launch_command()[1:] == ["-m", "vxassist"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/vxassist/vxassist")
    assert launch_command() == ["/opt/vxassist/vxassist"]
