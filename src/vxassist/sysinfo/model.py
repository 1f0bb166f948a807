"""The system report as values: sections, manifest, included files.

The JSON keys (section names, ``status``, ``reason``, ``data``) are a contract
read by the desk and the UI; change them only with a new ``SCHEMA`` number.
Additions that a reader may ignore keep the number: the ``partial`` status (a
section with data that saw less, its ``reason`` says what), optional keys in a
section's data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA = 1

#: every section of a report, in display order
SECTIONS: tuple[str, ...] = (
    "os",
    "hardware",
    "disks",
    "network",
    "ports",
    "databases",
    "vxtracker",
    "pbx",
    "software",
    "time",
)


class Status(StrEnum):
    OK = "ok"
    #: collected, but saw less than it should (the reason says what is missing)
    PARTIAL = "partial"
    SKIPPED = "skipped"
    FAILED = "failed"
    TIMEOUT = "timeout"


class Action(StrEnum):
    COLLECTED = "collected"
    SKIPPED = "skipped"
    FAILED = "failed"
    REDACTED = "redacted"
    ANONYMIZED = "anonymized"


@dataclass(frozen=True)
class ManifestEntry:
    """One item of the report and what happened to it (never its secret content)."""

    section: str
    item: str
    action: Action
    reason: str = ""
    sha256: str = ""
    size: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "section": self.section,
            "item": self.item,
            "action": str(self.action),
        }
        if self.reason:
            out["reason"] = self.reason
        if self.sha256:
            out["sha256"] = self.sha256
        if self.size is not None:
            out["size"] = self.size
        return out


@dataclass(frozen=True)
class IncludedFile:
    """A file (a config, a log tail) that goes into the bundle, already decoded."""

    section: str
    source: str  # the path on the machine
    name: str  # the path inside the bundle, e.g. "vxtracker/logs/server.log"
    text: str
    encoding: str
    truncated: bool = False


@dataclass
class Collected:
    """What a collector hands back: its data, its manifest items, its files."""

    data: dict[str, Any] = field(default_factory=dict)
    items: list[ManifestEntry] = field(default_factory=list)
    files: list[IncludedFile] = field(default_factory=list)
    #: what the section could not see; any makes it ``partial``
    shortfalls: list[str] = field(default_factory=list)

    def short(self, reason: str) -> None:
        """Record that the section saw less than it should, and why."""
        if reason not in self.shortfalls:
            self.shortfalls.append(reason)

    def note(self, section: str, item: str, action: Action, reason: str = "") -> None:
        self.items.append(ManifestEntry(section, item, action, reason))


@dataclass(frozen=True)
class Section:
    name: str
    status: Status
    reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0

    @property
    def has_data(self) -> bool:
        """Whether ``data`` holds what the section saw (all of it, or part)."""
        return self.status in (Status.OK, Status.PARTIAL)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": str(self.status)}
        if self.reason:
            out["reason"] = self.reason
        out["duration_ms"] = round(self.duration_ms, 1)
        out["data"] = self.data
        return out


@dataclass(frozen=True)
class Report(Mapping[str, Any]):
    """A finished, already redacted system report.

    It reads as the mapping ``to_dict()`` returns (``dict(report)`` is the JSON
    form), so code that only wants the document need not know this class.
    """

    generated_at: str
    host: str
    anonymized: bool
    sections: dict[str, Section]
    manifest: tuple[ManifestEntry, ...]
    files: tuple[IncludedFile, ...] = ()
    duration_ms: float = 0.0

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def section(self, name: str) -> Section:
        return self.sections[name]

    def data(self, name: str) -> dict[str, Any]:
        return self.sections[name].data

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "generated_at": self.generated_at,
            "host": self.host,
            "anonymized": self.anonymized,
            "duration_ms": round(self.duration_ms, 1),
            "sections": {name: self.sections[name].to_dict() for name in self.sections},
            "manifest": [entry.to_dict() for entry in self.manifest],
        }
