"""Console passwords: scrypt hashes, and the commands that set them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from vxassist import cli
from vxassist.desk.db import Database
from vxassist.desk.models import Engineer
from vxassist.desk.passwords import hash_password, verify_password


def test_a_hash_checks_its_password_and_nothing_else() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$")
    assert "correct horse" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert hash_password("correct horse battery") != stored  # salted
    for broken in (None, "", "scrypt$1$2", "bcrypt$x$y$z$a$b", "scrypt$x$8$1$AA==$AA=="):
        assert not verify_password("correct horse battery", broken)


def run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_engineer_add_and_set_password_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    code, out, _ = run(
        capsys,
        monkeypatch,
        "a long password\n",
        "desk",
        "engineer",
        "add",
        "ann",
        "--password-stdin",
        "--manager",
        "--db",
        db,
        "--json",
    )
    assert code == 0
    assert json.loads(out)["console"] is True and json.loads(out)["manager"] is True
    code, _, err = run(
        capsys,
        monkeypatch,
        "short\n",
        "desk",
        "engineer",
        "set-password",
        "ann",
        "--password-stdin",
        "--db",
        db,
    )
    assert code == 1 and "at least 10 characters" in err
    code, out, _ = run(
        capsys,
        monkeypatch,
        "another long one\n",
        "desk",
        "engineer",
        "set-password",
        "ann",
        "--password-stdin",
        "--db",
        db,
    )
    assert code == 0 and "can sign in to the web console" in out
    code, _, err = run(
        capsys, monkeypatch, "", "desk", "engineer", "set-password", "ann", "--db", db
    )
    assert code == 2 and "--password-stdin" in err  # no terminal to ask on
    code, _, err = run(
        capsys,
        monkeypatch,
        "whatever long\n",
        "desk",
        "engineer",
        "set-password",
        "nobody",
        "--password-stdin",
        "--db",
        db,
    )
    assert code == 1 and "no engineer named nobody" in err
    database = Database(db)
    try:
        with database.reading() as session:
            ann = session.scalar(select(Engineer).where(Engineer.name == "ann"))
            assert ann is not None and ann.is_manager
            assert verify_password("another long one", ann.password_hash)
            assert not verify_password("a long password", ann.password_hash)
    finally:
        database.dispose()
