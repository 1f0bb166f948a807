"""The Request Support draft: saved in one step, restored by a new store, cleared after submit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vxassist.cases.draft import DraftError, DraftStore, make_draft


def test_a_draft_is_restored_by_a_new_store_object(tmp_path: Path) -> None:
    DraftStore.for_data_dir(tmp_path).save(
        make_draft(
            {"company": "Acme Hotels", "details": "line 1\nline 2", "priority": "2"},
            unticked=["section:software"],
            also=[{"brief": "Reports slow", "priority": "3"}],
        )
    )
    draft = DraftStore.for_data_dir(tmp_path).load()
    assert draft is not None
    assert draft.fields == {"company": "Acme Hotels", "details": "line 1\nline 2", "priority": "2"}
    assert draft.unticked == frozenset({"section:software"})
    assert draft.also == ({"brief": "Reports slow", "priority": "3"},)
    if os.name == "posix":
        assert (DraftStore.for_data_dir(tmp_path).file.stat().st_mode & 0o777) == 0o600


def test_clear_forgets_it_and_an_empty_form_saves_nothing(tmp_path: Path) -> None:
    store = DraftStore.for_data_dir(tmp_path)
    store.save(make_draft({"brief": "x"}))
    store.clear()
    assert store.load() is None
    store.save(make_draft({"brief": "  ", "company": ""}))
    assert not store.file.exists()


def test_a_damaged_draft_is_set_aside_and_the_form_opens_empty(tmp_path: Path) -> None:
    store = DraftStore.for_data_dir(tmp_path)
    store.save(make_draft({"brief": "kept"}))
    store.file.write_text('{"version": 1, "fields": {"brie', encoding="utf-8")
    assert store.load() is None
    assert store.file.with_suffix(".unreadable").exists()
    store.file.write_text('{"version": 99, "fields": {"brief": "x"}}', encoding="utf-8")
    assert store.load() is None


def test_unknown_keys_and_odd_values_are_dropped(tmp_path: Path) -> None:
    store = DraftStore.for_data_dir(tmp_path)
    store.folder.mkdir(parents=True)
    store.file.write_text(
        '{"version": 1, "fields": {"brief": "ok", "evil": "x", "company": 3},'
        ' "unticked": ["a", 5], "also": ["no", {"brief": "b", "x": "y"}]}',
        encoding="utf-8",
    )
    draft = store.load()
    assert draft is not None
    assert draft.fields == {"brief": "ok"}
    assert draft.unticked == frozenset({"a"})
    assert draft.also == ({"brief": "b"},)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a read-only folder")
def test_a_draft_that_cannot_be_written_says_so_and_keeps_the_old_one(tmp_path: Path) -> None:
    store = DraftStore.for_data_dir(tmp_path)
    store.save(make_draft({"brief": "first"}))
    store.folder.chmod(0o500)
    try:
        with pytest.raises(DraftError) as err:
            store.save(make_draft({"brief": "second"}))
        assert "stays in the window" in err.value.message
        draft = store.load()
        assert draft is not None and draft.fields["brief"] == "first"
    finally:
        store.folder.chmod(0o700)
