"""Grant decisions: pure functions over frozen data, the clock passed in."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vxassist.remote.errors import GrantError, PathEscape
from vxassist.remote.grants import (
    ConsentDecision,
    Grant,
    GrantTable,
    Refusal,
    Scope,
    SessionRequest,
    check_channel,
    check_forward,
    check_login,
    confine_path,
    make_grant,
    parse_scopes,
    screen_request,
)
from vxassist.settings import RemotePolicy

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RDP = Scope("forward", "127.0.0.1", 3389)


def request(**kw: object) -> SessionRequest:
    base = SessionRequest(
        session_id="s-1",
        engineer="alice",
        case_number=42,
        case_brief="CDR stopped",
        scopes=(Scope("shell"), Scope("files"), RDP),
        minutes=60,
        reason="look at the collector",
        verification_code="123-456",
        key_fingerprint="SHA256:abc",
        received_at=NOW,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def grant(**kw: object) -> Grant:
    return replace(make_grant(request(), ConsentDecision(True, request().scopes, 60), NOW), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text", ["shell", "files", "forward:127.0.0.1:3389", "forward:db.local:5432"]
)
def test_scope_round_trips(text: str) -> None:
    assert str(Scope.parse(text)) == text


@pytest.mark.parametrize(
    "text", ["root", "forward:", "forward:host", "forward:host:0", "forward:host:70000", ""]
)
def test_bad_scopes_are_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(GrantError, match="shell, files or forward"):
        Scope.parse(text)


@given(st.integers(1, 65535), st.from_regex(r"[a-z0-9.]{1,20}", fullmatch=True))
def test_forward_scopes_round_trip(port: int, host: str) -> None:
    scope = Scope("forward", host, port)
    assert Scope.parse(str(scope)) == scope


def test_parse_scopes_drops_duplicates_keeps_order() -> None:
    assert parse_scopes(["files", "shell", "files"]) == (Scope("files"), Scope("shell"))


def test_screen_cuts_to_policy() -> None:
    policy = RemotePolicy(scopes=frozenset({"files", "forward"}), max_minutes=30)
    screened = screen_request(request(), policy, frozenset({42}), can_prompt=True)
    assert isinstance(screened, SessionRequest)
    assert screened.scopes == (Scope("files"), RDP)
    assert screened.minutes == 30


@pytest.mark.parametrize(
    ("policy", "cases", "can_prompt", "req", "why"),
    [
        (RemotePolicy(enabled=False), {42}, True, request(), "switched off"),
        (RemotePolicy(), {7}, True, request(), "not opened from this host"),
        (RemotePolicy(), {42}, False, request(), "unattended access is off"),
        (
            RemotePolicy(scopes=frozenset({"shell"})),
            {42},
            True,
            request(scopes=(Scope("files"),)),
            "none of the requested scopes",
        ),
        (
            RemotePolicy(forward_targets=()),
            {42},
            True,
            request(scopes=(RDP,)),
            "none of the requested scopes",
        ),
        (RemotePolicy(), {42}, True, request(minutes=0), "duration"),
        (RemotePolicy(), {42}, True, request(session_id="../../x"), "session id"),
        (RemotePolicy(), {42}, True, request(engineer="a b"), "engineer"),
    ],
)
def test_screen_refuses(
    policy: RemotePolicy, cases: set[int], can_prompt: bool, req: SessionRequest, why: str
) -> None:
    result = screen_request(req, policy, frozenset(cases), can_prompt)
    assert isinstance(result, Refusal)
    assert why in result.reason


def test_unattended_only_when_the_administrator_enables_it() -> None:
    result = screen_request(request(), RemotePolicy(unattended=True), frozenset({42}), False)
    assert isinstance(result, SessionRequest)


def test_make_grant_intersects_and_shortens() -> None:
    decision = ConsentDecision(True, (Scope("files"), Scope("forward", "10.0.0.1", 22)), 15)
    made = make_grant(request(), decision, NOW)
    assert made.scopes == (Scope("files"),)
    assert made.not_after - made.not_before == timedelta(minutes=15)
    assert made.key_id == "alice/case-42/session-s-1"
    longer = make_grant(request(minutes=10), ConsentDecision(True, (Scope("shell"),), 99), NOW)
    assert longer.not_after == NOW + timedelta(minutes=10)


@pytest.mark.parametrize(
    "decision",
    [
        ConsentDecision.deny("no"),
        ConsentDecision(True, (), 10),
        ConsentDecision(True, (Scope("shell"),), 0),
        ConsentDecision(True, (Scope("forward", "127.0.0.1", 22),), 10),
    ],
)
def test_make_grant_refuses_empty_approvals(decision: ConsentDecision) -> None:
    with pytest.raises(GrantError):
        make_grant(request(), decision, NOW)


def login(g: Grant | None, **kw: object) -> bool:
    args: dict[str, object] = {
        "cert_principals": ["s-1"],
        "cert_key_id": "alice/case-42/session-s-1",
        "cert_valid_after": NOW - timedelta(seconds=30),
        "cert_valid_before": NOW + timedelta(minutes=60),
        "now": NOW + timedelta(minutes=1),
        "key_fingerprint": "SHA256:abc",
    }
    args.update(kw)
    return check_login(g, **args).allowed  # type: ignore[arg-type]


def test_login_matching_a_live_grant() -> None:
    assert login(grant())


@pytest.mark.parametrize(
    "change",
    [
        {"cert_principals": ["s-2"]},
        {"cert_principals": []},
        {"cert_key_id": "alice/case-7/session-s-1"},
        {"cert_key_id": "mallory/case-42/session-s-1"},
        {"key_fingerprint": "SHA256:other"},
        {"now": NOW + timedelta(minutes=61)},
        {"now": NOW - timedelta(minutes=5)},
        {"cert_valid_before": NOW},
        {"cert_valid_after": NOW + timedelta(minutes=5)},
        {"cert_valid_before": NOW + timedelta(days=2)},
        {"cert_valid_after": NOW - timedelta(days=2)},
    ],
)
def test_login_refused(change: dict[str, object]) -> None:
    assert not login(grant(), **change)


def test_login_without_grant_refused() -> None:
    assert not login(None)


@pytest.mark.parametrize(
    ("scopes", "kind", "allowed"),
    [
        (("shell",), "shell", True),
        (("shell",), "exec", True),
        (("shell",), "pty", True),
        (("shell",), "sftp", False),
        (("files",), "sftp", True),
        (("files",), "shell", False),
        (("files",), "exec", False),
        (("shell", "files"), "x11", False),
        (("shell", "files"), "agent", False),
        (("shell", "files"), "subsystem:netconf", False),
    ],
)
def test_channel_checks(scopes: tuple[str, ...], kind: str, allowed: bool) -> None:
    g = grant(scopes=parse_scopes(scopes))
    assert check_channel(g, kind, NOW + timedelta(minutes=1)).allowed is allowed


def test_channel_after_the_deadline_refused() -> None:
    assert not check_channel(grant(), "shell", NOW + timedelta(minutes=60))


def test_forward_needs_grant_and_policy() -> None:
    g = grant()
    assert check_forward(g, "127.0.0.1", 3389, ["127.0.0.1:3389"])
    assert not check_forward(g, "127.0.0.1", 3389, [])
    assert not check_forward(g, "127.0.0.1", 22, ["127.0.0.1:22"])
    assert not check_forward(g, "localhost", 3389, ["127.0.0.1:3389"])
    assert not check_forward(g, "127.0.0.1", 3389, ["127.0.0.1:3389"], NOW + timedelta(hours=2))


def test_grant_table_spends_for_good() -> None:
    table = GrantTable()
    g = grant()
    table.add(g)
    assert table.live("s-1", NOW + timedelta(minutes=1)) == g
    assert table.live("s-1", NOW + timedelta(minutes=61)) is None
    table.spend("s-1", "ended by the customer")
    assert table.live("s-1", NOW + timedelta(minutes=1)) is None
    assert table.spent_reason("s-1") == "ended by the customer"
    with pytest.raises(GrantError):
        table.add(g)
    assert table.active() == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "f.txt").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    os.symlink(outside, root / "link-out")
    os.symlink(outside / "secret", root / "file-out")
    os.symlink(root / "sub", root / "link-in")
    os.symlink(tmp_path / "nowhere", root / "dangling-out")
    return root


@pytest.mark.parametrize(
    "path", ["sub/f.txt", "./sub/../sub/f.txt", "link-in/f.txt", "new-file", "sub/new/deeper"]
)
def test_confine_accepts_paths_inside(tree: Path, path: str) -> None:
    assert confine_path([tree], path).is_relative_to(tree.resolve())


@pytest.mark.parametrize(
    "path",
    [
        "..",
        "../outside/secret",
        "sub/../../outside",
        "/etc/passwd",
        "/",
        "link-out/secret",
        "file-out",
        "dangling-out",
        "link-in/../../outside",
        b"../x",
        "a\x00b",
    ],
)
def test_confine_refuses_escapes(tree: Path, path: str | bytes) -> None:
    with pytest.raises(PathEscape):
        confine_path([tree], path)


def test_confine_absolute_path_inside_a_root(tree: Path) -> None:
    assert confine_path([tree], str(tree / "sub" / "f.txt")) == (tree / "sub" / "f.txt").resolve()


def test_confine_with_no_roots_refuses(tree: Path) -> None:
    with pytest.raises(PathEscape):
        confine_path([], "x")
