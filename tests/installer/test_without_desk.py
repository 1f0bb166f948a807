"""The agent's bundle leaves the desk out: its commands say so in one sentence."""

from __future__ import annotations

import pytest

from vxassist import cli


@pytest.mark.parametrize("missing", ["sqlalchemy", "fastapi.routing", "vxassist.desk.db"])
def test_a_desk_command_without_the_desk_says_where_to_run_it(
    missing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def serve(ctx: object, args: object) -> int:
        raise ModuleNotFoundError(f"No module named '{missing}'", name=missing)

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=serve)
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert err == f"vxassist: {cli.DESK_NOT_INSTALLED}\n"


def test_any_other_missing_module_is_still_an_unexpected_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(ctx: object, args: object) -> int:
        raise ModuleNotFoundError("No module named 'pyte'", name="pyte")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser.set_defaults(func=broken)
    assert cli.main([]) == 1
    assert "unexpected error" in capsys.readouterr().err
