"""The outbox: pure retry decisions, and the SQLite store they drive."""

from __future__ import annotations

import errno
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vxassist.cases.outbox import (
    Delivered,
    FallBack,
    Kind,
    MarkDelivered,
    MarkRejected,
    OutboxError,
    OutboxFull,
    OutboxStore,
    Rejected,
    RetryAt,
    RetryPolicy,
    State,
    Unavailable,
    backoff_delay,
    decide,
    is_due,
)

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(window_s=3600, base_s=5, factor=2, max_delay_s=600, jitter=0.5)


def test_delivery_and_rejection_are_final() -> None:
    assert decide(POLICY, T0, 1, Delivered({"case_number": 7}), T0, 0.3) == MarkDelivered(
        {"case_number": 7}
    )
    assert decide(POLICY, T0, 1, Rejected("Contract unknown.", "x", 404), T0, 0.3) == (
        MarkRejected("Contract unknown.")
    )


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    delays = [backoff_delay(POLICY, n, 1.0) for n in range(1, 12)]
    assert delays[:4] == [5, 10, 20, 40]
    assert max(delays) == 600
    assert delays == sorted(delays)


@given(attempts=st.integers(1, 60), rand=st.floats(0, 1, exclude_max=True))
def test_jitter_stays_within_half_to_full_delay(attempts: int, rand: float) -> None:
    ceiling = min(POLICY.max_delay_s, POLICY.base_s * POLICY.factor ** (attempts - 1))
    delay = backoff_delay(POLICY, attempts, rand)
    assert ceiling * 0.5 <= delay <= ceiling


def test_two_clients_do_not_retry_in_lockstep() -> None:
    assert backoff_delay(POLICY, 4, 0.1) != backoff_delay(POLICY, 4, 0.9)


def test_retry_after_is_honoured() -> None:
    decision = decide(POLICY, T0, 1, Unavailable("429", retry_after=120), T0, 0.0)
    assert decision == RetryAt(T0 + timedelta(seconds=120), "429")


def test_the_last_retry_is_at_the_end_of_the_window_then_fallback() -> None:
    late = T0 + timedelta(seconds=3590)
    decision = decide(POLICY, T0, 30, Unavailable("refused"), late, 0.5)
    assert decision == RetryAt(T0 + timedelta(seconds=3600), "refused")
    after = decide(POLICY, T0, 31, Unavailable("refused"), T0 + timedelta(seconds=3600), 0.5)
    assert isinstance(after, FallBack)
    assert "refused" in after.reason


def test_only_pending_items_are_due() -> None:
    assert is_due(State.PENDING, T0, T0, False)
    assert not is_due(State.PENDING, T0 + timedelta(seconds=1), T0, False)
    assert is_due(State.PENDING, T0 + timedelta(hours=1), T0, True)
    for state in (State.DELIVERED, State.REJECTED, State.EMAILED, State.SAVED):
        assert not is_due(state, T0, T0, True)


# -- the store ----------------------------------------------------------------


def test_an_item_keeps_its_key_and_body(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox")
    item = store.add(Kind.CASE, "POST", "/api/v1/cases", {"brief": "é ok", "priority": 1}, T0)
    again = store.get(item.id)
    assert again.idempotency_key == item.idempotency_key
    assert len(item.idempotency_key) == 36
    assert again.body == {"brief": "é ok", "priority": 1}
    assert again.state is State.PENDING
    assert store.due(T0) == [again]
    other = store.add(Kind.CASE, "POST", "/api/v1/cases", {"brief": "b"}, T0)
    assert other.idempotency_key != item.idempotency_key


def test_claim_counts_attempts_and_blocks_a_second_live_claimer(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox")
    item = store.add(Kind.CASE, "POST", "/api/v1/cases", {"brief": "b"}, T0)
    claimed = store.claim(item.id, T0)
    assert claimed is not None and claimed.attempts == 1
    # A live process (this test's parent, pid 1 style) holds the lease: no second claim.
    with sqlite3.connect(store.file) as db:
        db.execute("UPDATE items SET lease_pid = ? WHERE id = ?", (1, item.id))
    assert store.claim(item.id, T0) is None
    # After the lease ends, it can be claimed again.
    assert store.claim(item.id, T0 + timedelta(minutes=5)) is not None


def test_a_killed_claimer_does_not_block_the_item(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox")
    item = store.add(Kind.CASE, "POST", "/api/v1/cases", {"brief": "b"}, T0)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    with sqlite3.connect(store.file) as db:
        db.execute(
            "UPDATE items SET lease_pid = ?, lease_until = ? WHERE id = ?",
            (int(dead.stdout), (T0 + timedelta(hours=1)).isoformat(), item.id),
        )
    assert store.claim(item.id, T0) is not None


def test_finished_items_are_never_claimed_again(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox")
    item = store.add(Kind.CASE, "POST", "/api/v1/cases", {"brief": "b"}, T0)
    store.mark_delivered(item.id, {"case_number": 3}, T0)
    assert store.claim(item.id, T0) is None
    assert store.get(item.id).case_number == 3
    assert store.due(T0, force=True) == []


def test_a_full_disk_is_a_sentence_and_nothing_is_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OutboxStore(tmp_path / "outbox")
    first = store.add(Kind.CASE, "POST", "/api/v1/cases", {"brief": "kept"}, T0)

    real_connect = sqlite3.connect

    def full_disk(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sqlite3, "connect", full_disk)
    with pytest.raises(OutboxFull) as caught:
        store.add(Kind.CASE, "POST", "/api/v1/cases", {"brief": "new"}, T0)
    assert "no space left on the disk" in caught.value.message
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    assert [i.body for i in store.items()] == [first.body]


def test_sqlite_reporting_a_full_database_is_a_full_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OutboxStore(tmp_path / "outbox")
    store.add(Kind.CASE, "POST", "/api/v1/cases", {"brief": "kept"}, T0)
    real_connect = sqlite3.connect

    class FullConnection(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return super().execute(sql, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(
        sqlite3, "connect", lambda *a, **k: real_connect(*a, factory=FullConnection, **k)
    )
    with pytest.raises(OutboxFull):
        store.add(Kind.CASE, "POST", "/api/v1/cases", {"brief": "new"}, T0)
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    assert len(store.items()) == 1


def test_an_unwritable_outbox_says_so(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OutboxError) as caught:
        OutboxStore(blocker).add(Kind.CASE, "POST", "/api/v1/cases", {}, T0)
    assert "cannot be used" in caught.value.message


def test_an_unknown_item_is_explained(tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox")
    with pytest.raises(OutboxError, match="There is no outbox item 9"):
        store.get(9)
