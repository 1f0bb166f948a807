"""The Request Support form's draft: what the customer typed, kept until it is sent.

The window saves the draft as the customer types (it debounces); the draft
survives closing the window and restarting the agent, and is cleared after a
successful submit. A draft is written in one step (a new file renamed over
the old one), so a crash mid-write leaves the previous draft, never half of
one. It holds contact details: readable by this account only.

A draft that cannot be read (damaged, from a newer version) is set aside and
the form opens empty: the customer never gets an error for an old draft.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vxassist.cases.fields import FIELD_NAMES
from vxassist.cases.model import CaseError

log = logging.getLogger(__name__)

DRAFT_VERSION = 1
#: fields of a further issue in the same request (``AlsoIssue``)
ALSO_FIELDS = ("brief", "details", "steps_taken", "priority")


class DraftError(CaseError):
    """The draft cannot be saved."""


@dataclass(frozen=True)
class Draft:
    """The form as the customer left it: field texts, unticked parts, further issues."""

    fields: Mapping[str, str] = field(default_factory=dict)
    #: ids of the "What will be sent" parts the customer unticked
    unticked: frozenset[str] = frozenset()
    also: tuple[Mapping[str, str], ...] = ()
    saved_at: str = ""

    @property
    def empty(self) -> bool:
        return not any(v.strip() for v in self.fields.values()) and not self.also

    def to_json(self) -> dict[str, Any]:
        return {
            "version": DRAFT_VERSION,
            "saved_at": self.saved_at,
            "fields": dict(self.fields),
            "unticked": sorted(self.unticked),
            "also": [dict(a) for a in self.also],
        }

    @classmethod
    def from_json(cls, data: Any) -> Draft:
        """A draft from its JSON form; unknown keys and non-text values are dropped."""
        if not isinstance(data, Mapping) or data.get("version") != DRAFT_VERSION:
            raise ValueError("not a draft of this version")
        raw_fields = data.get("fields")
        fields = {
            k: v
            for k, v in (raw_fields.items() if isinstance(raw_fields, Mapping) else ())
            if k in FIELD_NAMES and isinstance(v, str)
        }
        raw_unticked = data.get("unticked")
        unticked = frozenset(
            u
            for u in (raw_unticked if isinstance(raw_unticked, list) else ())
            if isinstance(u, str)
        )
        raw_also = data.get("also")
        also = tuple(
            {k: v for k, v in a.items() if k in ALSO_FIELDS and isinstance(v, str)}
            for a in (raw_also if isinstance(raw_also, list) else ())
            if isinstance(a, Mapping)
        )
        saved_at = data.get("saved_at")
        return cls(fields, unticked, also, saved_at if isinstance(saved_at, str) else "")


def make_draft(
    fields: Mapping[str, Any],
    unticked: Sequence[str] = (),
    also: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> Draft:
    """A draft from the form's current values (texts as typed, not cleaned)."""
    return Draft(
        {k: "" if v is None else str(v) for k, v in fields.items() if k in FIELD_NAMES},
        frozenset(unticked),
        tuple({k: "" if v is None else str(v) for k, v in a.items()} for a in also),
        (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
    )


class DraftStore:
    """The one draft of the Request Support form, in a file under the data folder."""

    def __init__(self, folder: Path, name: str = "request") -> None:
        self.folder = folder
        self.file = folder / f"{name}.json"

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> DraftStore:
        return cls(data_dir / "drafts")

    def load(self) -> Draft | None:
        """The saved draft, or None when there is none (or it cannot be used)."""
        try:
            raw = self.file.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("draft %s unreadable: %r", self.file, exc)
            return None
        try:
            draft = Draft.from_json(json.loads(raw.decode("utf-8")))
        except (ValueError, UnicodeDecodeError) as exc:
            # keep it for whoever wants to look, out of the form's way
            log.warning("draft %s set aside: %r", self.file, exc)
            with contextlib.suppress(OSError):
                self.file.replace(self.file.with_suffix(".unreadable"))
            return None
        return None if draft.empty else draft

    def save(self, draft: Draft) -> None:
        """Replace the saved draft with ``draft`` in one step (an empty one clears it)."""
        if draft.empty:
            self.clear()
            return
        body = json.dumps(draft.to_json(), ensure_ascii=False, indent=1).encode("utf-8")
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.file)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise DraftError(
                "Your draft could not be saved; free some disk space. What you typed "
                "stays in the window.",
                detail=f"{self.file}: {exc!r}",
            ) from exc

    def clear(self) -> None:
        """Forget the draft (after a successful submit)."""
        try:
            self.file.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("draft %s not removed: %r", self.file, exc)
