"""Windows: only administrators can change the machine policy (the access-list decision).

The decision is pure and runs everywhere; reading a real file's access list runs
on Windows only (the CI's Windows job), where a temporary file owned by the
runner's user must not pass.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from vxassist.winacl import (
    ADMINISTRATORS,
    SYSTEM,
    Ace,
    FileAcl,
    acl_verdict,
    file_acl,
    only_administrators_can_change,
)

USERS = "S-1-5-32-545"
AUTHENTICATED_USERS = "S-1-5-11"
CREATOR_OWNER = "S-1-3-0"
SOMEONE = "S-1-5-21-1004336348-1177238915-682003330-1001"
FULL = 0x001F01FF
READ = 0x00120089
MODIFY = 0x001301BF

#: what the installer's icacls lines leave on policy.toml
INSTALLED = FileAcl(
    ADMINISTRATORS,
    (Ace(0, 0, FULL, ADMINISTRATORS), Ace(0, 0, FULL, SYSTEM), Ace(0, 0, READ, USERS)),
)


def test_the_installer_s_access_list_passes() -> None:
    assert acl_verdict(INSTALLED) == (True, "")


@pytest.mark.parametrize(
    ("acl", "why"),
    [
        (FileAcl(SOMEONE, INSTALLED.aces), f"it is owned by {SOMEONE}, not by Administrators"),
        (FileAcl(ADMINISTRATORS, None), "it has no access list, so everyone may change it"),
        (
            FileAcl(ADMINISTRATORS, (*(INSTALLED.aces or ()), Ace(0, 0x10, MODIFY, USERS))),
            f"{USERS} may change it",
        ),
        (
            FileAcl(ADMINISTRATORS, (Ace(0, 0, 0x0004, AUTHENTICATED_USERS),)),
            f"{AUTHENTICATED_USERS} may change it",
        ),
        (
            FileAcl(ADMINISTRATORS, (Ace(0, 0, 0x4000_0000, SOMEONE),)),  # GENERIC_WRITE
            f"{SOMEONE} may change it",
        ),
        (
            FileAcl(ADMINISTRATORS, (Ace(0, 0, 0x0004_0000, USERS),)),  # WRITE_DAC
            f"{USERS} may change it",
        ),
    ],
)
def test_anyone_else_who_may_change_it_fails_it(acl: FileAcl, why: str) -> None:
    assert acl_verdict(acl) == (False, why)


def test_denials_and_inherit_only_entries_do_not_count() -> None:
    acl = FileAcl(
        ADMINISTRATORS,
        (
            *(INSTALLED.aces or ()),
            Ace(1, 0, FULL, USERS),  # a denial only takes away
            Ace(0, 0x08 | 0x03, FULL, CREATOR_OWNER),  # for files created below, not this one
        ),
    )
    assert acl_verdict(acl) == (True, "")


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in for other systems")
def test_access_lists_are_read_on_windows_only(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        file_acl(tmp_path)
    assert only_administrators_can_change(tmp_path)[0] is False


@pytest.mark.skipif(sys.platform != "win32", reason="a real Windows access list")
def test_a_file_the_user_made_is_not_administrators_only(tmp_path: Path) -> None:
    made = tmp_path / "policy.toml"
    made.write_text("[remote]\nenabled = true\n", encoding="utf-8")
    acl = file_acl(made)
    assert acl.owner.startswith("S-1-5-")
    assert acl.aces  # a temporary file inherits its folder's entries
    trusted, why = acl_verdict(acl)
    assert trusted is False and why
