"""What will be sent: a request's content split into parts the customer can untick.

The parts are the case fields, each section of the system report, each config
file and log tail, and the report's list of contents (manifest, with the host
name and time). Each part carries the exact text that leaves the machine,
already redacted, and the spans where a secret (or, anonymized, a name or
address) was replaced, so a window can highlight them.

``report_payload(report, unticked)`` builds the ``system_report`` of the
request from the ticked parts only; what is unticked is not in it. Every
character of the payload is shown in exactly one part: config file texts live
in the ``vxtracker`` section (where the report keeps them) but are shown, and
ticked, as their own parts; log tails go in ``files``.

Pure: a ``Report`` and values in, frozen values out.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from copy import deepcopy
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from vxassist.cases.fields import CASE_FIELDS, Priority
from vxassist.redact import MASK
from vxassist.sysinfo.model import Action, IncludedFile, ManifestEntry, Report

FIELDS_PART = "fields"
MANIFEST_PART = "manifest"
#: the reason recorded in the manifest for a part the customer left out
LEFT_OUT = "left out by the customer"

_REPLACED = re.compile(re.escape(MASK) + r"|-----PRIVATE KEY REMOVED-----")
_ALIAS = re.compile(r"(?<![\w-])(?:host|ip|mac|user)-\d+(?![\w-])")

SECTION_TITLES: dict[str, str] = {
    "os": "Operating system",
    "hardware": "Hardware",
    "disks": "Disks",
    "network": "Network",
    "ports": "Listening ports",
    "databases": "Database servers",
    "vxtracker": "VXTracker install, services and processes",
    "pbx": "PBX link",
    "software": "Installed software",
    "time": "Time and clock",
}


class PartKind(StrEnum):
    FIELDS = "fields"
    SECTION = "section"
    FILE = "file"
    MANIFEST = "manifest"


class SpanKind(StrEnum):
    SECRET = "secret"
    ALIAS = "alias"


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of a part's text stand for something removed."""

    start: int
    end: int
    kind: SpanKind


@dataclass(frozen=True)
class SendPart:
    id: str
    kind: PartKind
    title: str
    #: one line on what the part is, for the customer
    note: str
    text: str
    spans: tuple[Span, ...]
    #: False for the case fields: a request without them is no request
    optional: bool = True

    @property
    def secrets_replaced(self) -> int:
        return sum(1 for s in self.spans if s.kind is SpanKind.SECRET)

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))


def find_spans(text: str, anonymized: bool = False) -> tuple[Span, ...]:
    """Where ``text`` holds a mask (and, in an anonymized report, an alias)."""
    spans = [Span(m.start(), m.end(), SpanKind.SECRET) for m in _REPLACED.finditer(text)]
    if anonymized:
        spans += [Span(m.start(), m.end(), SpanKind.ALIAS) for m in _ALIAS.finditer(text)]
    return tuple(sorted(spans, key=lambda s: s.start))


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def section_part_id(name: str) -> str:
    return f"section:{name}"


def file_part_id(file: IncludedFile) -> str:
    return f"file:{file.name}"


def fields_text(fields: Mapping[str, Any], also: Iterable[Mapping[str, Any]] = ()) -> str:
    """The case fields as the customer reads them: one "Label: value" per field."""
    lines = []
    for spec in CASE_FIELDS:
        value = fields.get(spec.name)
        text = "" if value is None else str(value).strip()
        if not text:
            continue
        if spec.name == "priority":
            with contextlib.suppress(ValueError):
                text = f"{int(text)} ({Priority(int(text)).label})"
        if "\n" in text:
            text = "\n    " + text.replace("\n", "\n    ")
        lines.append(f"{spec.label}: {text}")
    for index, issue in enumerate(also, start=1):
        lines.append("")
        lines.append(f"Further issue {index} (its own case):")
        for name in ("brief", "details", "steps_taken", "priority"):
            spec = next(s for s in CASE_FIELDS if s.name == name)
            lines.append(f"  {spec.label}: {str(issue.get(name, '')).strip()}")
    return "\n".join(lines)


def _config_files(report: Report) -> list[IncludedFile]:
    return [f for f in report.files if "/config/" in f.name]


def _section_view(report: Report, name: str) -> dict[str, Any]:
    """A section as sent, without the config texts (they are parts of their own)."""
    data = report.sections[name].to_dict()
    if name == "vxtracker":
        data = deepcopy(data)
        for entry in data.get("data", {}).get("config_files", []):
            if isinstance(entry, dict):
                entry.pop("text", None)
    return data


def _header(report: Report) -> dict[str, Any]:
    return {
        "schema": report.to_dict()["schema"],
        "generated_at": report.generated_at,
        "host": report.host,
        "anonymized": report.anonymized,
        "duration_ms": round(report.duration_ms, 1),
    }


def _kept_manifest(report: Report, unticked: Collection[str]) -> list[ManifestEntry]:
    left_sections = {name for name in report.sections if section_part_id(name) in unticked}
    left_files = [f for f in report.files if file_part_id(f) in unticked]
    left_items = {f.name for f in left_files} | {f.source for f in left_files}
    kept = [
        m for m in report.manifest if m.section not in left_sections and m.item not in left_items
    ]
    kept += [ManifestEntry(name, name, Action.SKIPPED, LEFT_OUT) for name in sorted(left_sections)]
    kept += [ManifestEntry(f.section, f.name, Action.SKIPPED, LEFT_OUT) for f in left_files]
    return kept


def parts(
    fields: Mapping[str, Any],
    report: Report | None,
    also: Iterable[Mapping[str, Any]] = (),
    unticked: Collection[str] = (),
) -> tuple[SendPart, ...]:
    """Every part of the request, in the order a reader expects.

    ``unticked`` only changes the manifest part's text (it lists what was left out).
    """
    out = [
        SendPart(
            FIELDS_PART,
            PartKind.FIELDS,
            "Your request",
            "the form's fields, as you typed them",
            fields_text(fields, also),
            (),
            optional=False,
        )
    ]
    if report is None:
        return tuple(out)
    anonymized = report.anonymized
    for name in report.sections:
        text = _json(_section_view(report, name))
        out.append(
            SendPart(
                section_part_id(name),
                PartKind.SECTION,
                SECTION_TITLES.get(name, name),
                f"system report section '{name}'",
                text,
                find_spans(text, anonymized),
            )
        )
    for f in report.files:
        kind = "config file" if f in _config_files(report) else "end of the log file"
        note = f"{kind} {f.source}" + (" (its last part)" if f.truncated else "")
        out.append(
            SendPart(
                file_part_id(f),
                PartKind.FILE,
                f.name.rsplit("/", 1)[-1],
                note,
                f.text,
                find_spans(f.text, anonymized),
            )
        )
    manifest_text = _json(
        _header(report) | {"manifest": [m.to_dict() for m in _kept_manifest(report, unticked)]}
    )
    out.append(
        SendPart(
            MANIFEST_PART,
            PartKind.MANIFEST,
            "Contents list",
            "this machine's name, when the report was made, what was collected and "
            "what was removed (never the removed values)",
            manifest_text,
            find_spans(manifest_text, anonymized),
        )
    )
    return tuple(out)


def report_payload(report: Report | None, unticked: Collection[str]) -> dict[str, Any] | None:
    """The request's ``system_report`` from the ticked parts only, or None if nothing is."""
    if report is None:
        return None
    ticked_sections = [n for n in report.sections if section_part_id(n) not in unticked]
    ticked_files = [f for f in report.files if file_part_id(f) not in unticked]
    with_manifest = MANIFEST_PART not in unticked
    if not ticked_sections and not ticked_files and not with_manifest:
        return None
    sections: dict[str, Any] = {}
    kept_configs = {f.source for f in _config_files(report) if f in ticked_files}
    for name in ticked_sections:
        data = deepcopy(report.sections[name].to_dict())
        if name == "vxtracker":
            for entry in data.get("data", {}).get("config_files", []):
                if isinstance(entry, dict) and entry.get("path") not in kept_configs:
                    entry.pop("text", None)
                    entry["left_out"] = True
        sections[name] = data
    payload: dict[str, Any] = {}
    if with_manifest:
        payload.update(_header(report))
        payload["manifest"] = [m.to_dict() for m in _kept_manifest(report, unticked)]
    else:
        payload["schema"] = _header(report)["schema"]
    payload["sections"] = sections
    # a config file's text rides in its section; with the section left out, on its own
    in_section = set(_config_files(report)) if "vxtracker" in sections else set()
    payload["files"] = [
        {
            "section": f.section,
            "name": f.name,
            "source": f.source,
            "encoding": f.encoding,
            "truncated": f.truncated,
            "text": f.text,
        }
        for f in ticked_files
        if f not in in_section
    ]
    return payload
