"""The Windows installer script against the agent's code (Inno Setup cannot run here).

installer/windows/vxassist.iss fills the template installer/windows/policy.toml.in
(its [Code] FillLine: one StringChangeEx per @NAME@) and writes it where the agent
reads the machine policy. These tests read the same two files: the path, the
placeholders and how each is rendered, the keys and defaults, the parameters
the README documents, the Run key, the command run before removal; and they
render the template as the installer would and load it with the real loader.
"""

from __future__ import annotations

import ntpath
import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from vxassist import cli
from vxassist.paths import APP_AUTHOR, APP_NAME, Paths
from vxassist.settings import ALL_SCOPES, RemotePolicy, load_settings
from vxassist.ui.platform import autostart_windows

HERE = Path(__file__).resolve().parents[2] / "installer" / "windows"
ISS = (HERE / "vxassist.iss").read_text(encoding="utf-8")
TEMPLATE = (HERE / "policy.toml.in").read_text(encoding="utf-8")
README = (HERE / "README.md").read_text(encoding="utf-8")

#: how FillLine's arguments name the wizard's values (the command line fills them too)
SOURCES = {
    "RemotePage.Values[0]": "remote",
    "ChosenScopes": "scopes",
    "StrToIntDef(Trim(LimitsPage.Values[0]), 0)": "max_minutes",
    "LimitsPage.Values[1]": "forward",
    "Trim(LimitsPage.Values[2])": "desk",
    "Trim(LimitsPage.Values[3])": "account",
}
#: the command-line parameter that fills each of those values
PARAMS = {
    "REMOTE": "remote",
    "SCOPES": "scopes",
    "MAXMINUTES": "max_minutes",
    "FORWARD": "forward",
    "DESK": "desk",
    "SESSIONACCOUNT": "account",
}


def define(name: str) -> str:
    found = re.search(rf'^#define {name} "([^"]*)"', ISS, re.M)
    assert found, f"#define {name} is missing from vxassist.iss"
    return found.group(1)


def fill_line_calls() -> list[tuple[str, str, str]]:
    """(placeholder, renderer, argument) of each StringChangeEx in FillLine."""
    body = ISS[ISS.index("function FillLine(") :]
    body = body[: body.index("\nend;")]
    calls = re.findall(r"StringChangeEx\(Line, '@(\w+)@', (\w+)\((.*)\), True\);", body)
    assert calls, "FillLine has no StringChangeEx lines"
    return calls


def param_defaults() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, default in re.findall(r"ParamValue\('(\w+)', '([^']*)'\)", ISS):
        found.setdefault(name, set()).add(default)
    return found


# -- Python's reading of the three Pascal renderers FillLine uses ---------------------


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


RENDERERS = {
    "TomlBool": lambda value: "true" if value else "false",
    "TomlList": lambda value: "[" + ", ".join(_toml_string(i.lower()) for i in _split(value)) + "]",
    "TomlString": _toml_string,
    "IntToStr": lambda value: str(int(value)),
}


def render(values: dict[str, Any]) -> str:
    """The policy text the installer writes for these wizard (or command-line) values."""
    wizard = dict(values)
    wizard["scopes"] = "".join(
        f"{s}," for s in ("shell", "files", "forward") if s in values["scopes"]
    )
    text = TEMPLATE
    for placeholder, renderer, argument in fill_line_calls():
        source = SOURCES[argument]
        value = wizard[source]
        if source in {"desk", "account"}:
            value = value.strip()
        text = text.replace(f"@{placeholder}@", RENDERERS[renderer](value))
    return text


DEFAULTS = {
    "remote": True,
    "scopes": "shell,files,forward",
    "max_minutes": "120",
    "forward": "127.0.0.1:3389",
    "desk": "",
    "account": "vxsession",
}


# -- where and what ------------------------------------------------------------------


def test_the_policy_goes_where_the_agent_reads_it_on_windows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from platformdirs.windows import Windows

    monkeypatch.setenv("WIN_PD_OVERRIDE_COMMON_APPDATA", r"C:\ProgramData")
    monkeypatch.setenv("WIN_PD_OVERRIDE_LOCAL_APPDATA", r"C:\Users\ann\AppData\Local")
    agent = Windows(APP_NAME, APP_AUTHOR)
    policy_dir = define("PolicyDir").replace("{commonappdata}", r"C:\ProgramData")
    assert ntpath.normpath(policy_dir) == ntpath.normpath(agent.site_config_dir)
    assert re.search(r'^#define PolicyFile PolicyDir \+ "\\policy\.toml"$', ISS, re.M)
    # the folder its closing message names is where each user's audit trail and
    # recordings are (Paths.audit_dir and recordings_dir lie in the user data folder)
    user_data = define("UserDataDir").replace("%LOCALAPPDATA%", r"C:\Users\ann\AppData\Local")
    assert ntpath.normpath(user_data) == ntpath.normpath(agent.user_data_dir)
    paths = Paths(Path("c"), Path("d"), Path("l"), Path("k"), Path("p"))
    assert paths.audit_dir.parent == paths.data_dir == paths.recordings_dir.parent


def test_the_template_and_the_installer_fill_the_same_placeholders() -> None:
    in_template = set(re.findall(r"@(\w+)@", TEMPLATE.split("\n[remote]", 1)[1]))
    filled = {placeholder for placeholder, _, _ in fill_line_calls()}
    assert in_template == filled
    assert {argument for _, _, argument in fill_line_calls()} == set(SOURCES)
    assert {renderer for _, renderer, _ in fill_line_calls()} <= set(RENDERERS)
    assert 'Source: "policy.toml.in"; Flags: dontcopy' in ISS
    assert "ExtractTemporaryFile('policy.toml.in')" in ISS


def test_every_key_the_installer_writes_is_one_the_loader_reads() -> None:
    policy = tomllib.loads(render(DEFAULTS))
    assert set(policy) == {"remote", "desk"}
    known = {f.name for f in fields(RemotePolicy)}
    assert set(policy["remote"]) <= known, set(policy["remote"]) - known
    assert set(policy["desk"]) == {"url"}
    # and the commented-out ones an administrator may switch on
    commented = set(re.findall(r"^# (\w+) = ", TEMPLATE.split("\n[remote]", 1)[1], re.M))
    assert commented and commented <= known, commented - known


def test_the_installer_s_defaults_are_the_agent_s() -> None:
    defaults = param_defaults()
    assert set(defaults) == set(PARAMS) | {"POLICY"}
    for name, values in defaults.items():
        assert len(values) == 1, f"{name} has two defaults in vxassist.iss: {values}"
    agent = RemotePolicy()
    assert defaults["REMOTE"] == {"on"} and agent.enabled
    assert set(_split(defaults["SCOPES"].pop())) == set(agent.scopes) == set(ALL_SCOPES)
    assert defaults["MAXMINUTES"] == {str(agent.max_minutes)}
    assert defaults["FORWARD"] == {",".join(agent.forward_targets)}
    assert defaults["SESSIONACCOUNT"] == {agent.session_account}
    assert defaults["DESK"] == {""}
    # the same values the Python rendering above starts from
    assert DEFAULTS["max_minutes"] == str(agent.max_minutes)


# -- the rendered policy through the real loader -------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            DEFAULTS,
            {
                "enabled": True,
                "scopes": {"shell", "files", "forward"},
                "max_minutes": 120,
                "forward_targets": ("127.0.0.1:3389",),
                "session_account": "vxsession",
                "desk": "",
            },
        ),
        (
            {
                "remote": False,
                "scopes": "files",
                "max_minutes": "240",
                "forward": " 127.0.0.1:3389 , [::1]:8443,",
                "desk": " https://desk.example.com/ ",
                "account": "vxhelp",
            },
            {
                "enabled": False,
                "scopes": {"files"},
                "max_minutes": 240,
                "forward_targets": ("127.0.0.1:3389", "[::1]:8443"),
                "session_account": "vxhelp",
                "desk": "https://desk.example.com",
            },
        ),
        (
            {**DEFAULTS, "scopes": "", "forward": ""},
            {
                "enabled": True,
                "scopes": set(),
                "max_minutes": 120,
                "forward_targets": (),
                "session_account": "vxsession",
                "desk": "",
            },
        ),
    ],
)
def test_the_policy_the_installer_writes_loads_with_the_agent_s_loader(
    paths: Paths, values: dict[str, Any], expected: dict[str, Any]
) -> None:
    paths.policy_file.write_text(render(values), encoding="utf-8")
    paths.policy_file.chmod(0o644)  # root-owned (the tests run as root here), as on Linux
    settings = load_settings(paths)
    remote = settings.remote
    assert remote.enabled is expected["enabled"]
    assert set(remote.scopes) == expected["scopes"]
    assert remote.max_minutes == expected["max_minutes"]
    assert remote.forward_targets == expected["forward_targets"]
    assert remote.session_account == expected["session_account"]
    assert settings.machine_desk_url == expected["desk"]
    assert settings.desk_url == expected["desk"]


# -- the other seams with the agent ---------------------------------------------------


def test_the_readme_documents_every_parameter() -> None:
    for name in [*PARAMS, "POLICY"]:
        assert f"/{name}=" in README, f"/{name}= is not in installer/windows/README.md"
    assert "/MERGETASKS" in README  # how a silent install leaves out the login start


def test_the_login_entry_is_the_value_the_tray_s_switch_looks_for() -> None:
    assert define("RunKey") == autostart_windows.RUN_KEY
    entries = re.findall(r'^Root: HKLM; Subkey: "\{#RunKey\}";.*ValueName: "(\w+)"', ISS, re.M)
    assert entries and set(entries) == {autostart_windows.VALUE_NAME}


def test_sessions_are_ended_with_a_command_the_agent_has() -> None:
    assert 'Parameters: "session end --all"' in ISS
    assert "Exec(ExePath, 'session end --all'" in ISS
    args = cli.build_parser().parse_args(["session", "end", "--all"])
    assert args.all is True and args.session_id is None


def test_the_policy_acl_leaves_users_reading_only() -> None:
    icacls = [line for line in ISS.splitlines() if line.startswith('Filename: "{sys}\\icacls.exe"')]
    assert len(icacls) == 3
    for line in icacls[1:]:
        assert "/inheritance:r" in line and "/grant:r" in line
        assert re.search(r"\*S-1-5-32-545:(\(OI\)\(CI\))?R[X ]?", line)  # Users: read
        assert "*S-1-5-32-545:F" not in line and "*S-1-5-32-545:(OI)(CI)F" not in line
        assert "*S-1-5-32-544:" in line and "*S-1-5-18:" in line
    assert "/setowner *S-1-5-32-544" in icacls[0]


def test_the_windows_workflow_names_files_and_extras_that_exist() -> None:
    root = HERE.parents[1]
    workflow = (root / ".github" / "workflows" / "windows.yml").read_text(encoding="utf-8")
    ignored = re.findall(r"--ignore=(\S+)", workflow)
    assert ignored, "the workflow leaves no tests out: then say why not in its comment"
    for path in ignored:
        assert (root / path).exists(), f"the Windows workflow ignores {path}, which is gone"
    with (root / "pyproject.toml").open("rb") as fh:
        extras = set(tomllib.load(fh)["project"]["optional-dependencies"])
    wanted = re.search(r'pip install -e "\.\[([\w,]+)\]"', workflow)
    assert wanted and set(wanted.group(1).split(",")) <= extras
    assert "installer/windows/vxassist.iss" in workflow
    assert "installer/bundle/vxassist.spec" in workflow
