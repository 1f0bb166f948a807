"""A support request as the agent sends it, and its validation.

``check_fields`` is pure: raw values in (from flags, a TOML file, prompts or the
UI), one ``FieldProblem`` per field that is wrong out, each a sentence a customer
understands. ``build_request`` turns valid values into a frozen
``CaseRequest``; ``CaseRequest.payload()`` is the body of ``POST /api/v1/cases``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vxassist.cases.fields import BRIEF_MAX, CASE_FIELDS, FIELD_NAMES, FieldSpec, Priority
from vxassist.errors import VxError

#: longest value of a one-line field and of a free-text field
LINE_MAX = 200
TEXT_MAX = 20_000
TEXT_FIELDS = frozenset({"details", "steps_taken"})

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[^@\s<>(),;:\"]+@{_LABEL}(?:\.{_LABEL})+$")
_PHONE_CHARS = re.compile(r"^[0-9+()./\-\s]+(?:\s*(?:x|ext\.?|option)\s*[0-9]+)?$", re.I)
_CASE_NUMBER = re.compile(r"^\s*(?:case\s*)?#?\s*([0-9]{1,12})\s*$", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

SPECS: dict[str, FieldSpec] = {f.name: f for f in CASE_FIELDS}


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class CaseError(VxError):
    """A case request that cannot be made or sent."""


class CaseInvalid(CaseError):
    """Some fields are missing or malformed; ``problems`` names each one."""

    exit_code = 2

    def __init__(self, problems: tuple[FieldProblem, ...]) -> None:
        lines = "\n  ".join(p.message for p in problems)
        super().__init__(
            f"The request is not complete; correct these fields and try again:\n  {lines}",
            detail=", ".join(p.field for p in problems),
        )
        self.problems = problems


def priority_help() -> str:
    """The priority levels and their meaning, one per line."""
    return "\n".join(f"{p.value} = {p.label}: {p.meaning}" for p in Priority)


def parse_case_number(value: Any) -> int | None:
    """``1234``, ``"1234"``, ``"#1234"`` or ``"Case 1234"`` as a number; None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        match = _CASE_NUMBER.match(value)
        if match:
            number = int(match.group(1))
            return number if number > 0 else None
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value).strip()


def _check_one(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """The cleaned value of one field and the problem with it, if any."""
    label = spec.label
    if spec.name == "priority":
        if value is None or _text(value) == "":
            return None, f"{label}: missing; choose 1 to 4 (1 = System Down, 4 = Question)."
        try:
            if isinstance(value, bool):
                raise ValueError("a yes/no is not a level")
            number = int(_text(value)) if not isinstance(value, int) else value
            priority = Priority(number)
        except ValueError:
            return None, (
                f"{label}: '{_text(value)}' is not a level; choose 1 to 4 "
                "(1 = System Down, 4 = Question)."
            )
        return int(priority), None
    if spec.name == "continues_case":
        if value is None or _text(value) == "":
            return None, None
        case_number = parse_case_number(value)
        if case_number is None:
            return None, (
                f"{label}: '{_text(value)}' is not a case number; write the number "
                "you were given, like 1042, or leave it empty."
            )
        return case_number, None

    text = _text(value)
    if not text:
        if spec.required:
            return "", f"{label}: missing; {spec.help}."
        return "", None
    if _CONTROL.search(text):
        return text, f"{label}: contains control characters; type it as plain text."
    limit = LINE_MAX
    if spec.name == "brief":
        limit = BRIEF_MAX
    elif spec.name in TEXT_FIELDS:
        limit = TEXT_MAX
    if len(text) > limit:
        return text, f"{label}: {len(text)} characters; shorten it to {limit} at most."
    if spec.name not in TEXT_FIELDS and "\n" in text:
        return text, f"{label}: write it on one line."
    if spec.name == "contact_email" and not _EMAIL.match(text):
        return text, (
            f"{label}: '{text}' is not an e-mail address; write it like name@example.com."
        )
    if spec.name == "contact_phone":
        digits = sum(ch.isdigit() for ch in text)
        if not _PHONE_CHARS.match(text) or digits < 6:
            return text, (
                f"{label}: '{text}' is not a phone number; write it with the area "
                "code, like +1 555 010 2030."
            )
    return text, None


@dataclass(frozen=True)
class AlsoIssue:
    """A further issue named in the same request (the desk makes it its own case)."""

    brief: str
    details: str
    steps_taken: str
    priority: int

    def payload(self) -> dict[str, Any]:
        return {
            "brief": self.brief,
            "details": self.details,
            "steps_taken": self.steps_taken,
            "priority": self.priority,
        }


@dataclass(frozen=True)
class CaseRequest:
    company: str
    install_type: str
    location: str
    database_type: str
    vxtracker_server: str
    pbx_manufacturer: str
    pbx_model: str
    contact_name: str
    contact_phone: str
    contact_email: str
    brief: str
    details: str
    steps_taken: str
    priority: int
    continues_case: int | None = None
    third_party_app: str = ""
    third_party_version: str = ""
    #: the redacted system report, or None when the customer left it out
    system_report: Mapping[str, Any] | None = field(default=None, compare=False)
    also: tuple[AlsoIssue, ...] = ()

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FIELD_NAMES}

    def payload(self) -> dict[str, Any]:
        """The JSON body of ``POST /api/v1/cases``."""
        body = self.fields()
        for name in ("third_party_app", "third_party_version"):
            body[name] = body[name] or None
        body["system_report"] = dict(self.system_report) if self.system_report else None
        body["also"] = [a.payload() for a in self.also]
        return body


def check_fields(raw: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[FieldProblem, ...]]:
    """Cleaned values of every case field and the problems found, in field order."""
    cleaned: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for spec in CASE_FIELDS:
        value, problem = _check_one(spec, raw.get(spec.name))
        cleaned[spec.name] = value
        if problem:
            problems.append(FieldProblem(spec.name, problem))
    unknown = sorted(set(raw) - set(FIELD_NAMES) - {"system_report", "also"})
    for name in unknown:
        problems.append(
            FieldProblem(
                name,
                f"'{name}' is not a case field; the fields are: " + ", ".join(FIELD_NAMES) + ".",
            )
        )
    return cleaned, tuple(problems)


def _check_also(raw: Any) -> tuple[tuple[AlsoIssue, ...], list[FieldProblem]]:
    if raw is None:
        return (), []
    if not isinstance(raw, list | tuple):
        return (), [FieldProblem("also", "Further issues: give them as a list of issues.")]
    issues: list[AlsoIssue] = []
    problems: list[FieldProblem] = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping):
            problems.append(FieldProblem("also", f"Further issue {index}: not a table of fields."))
            continue
        values: dict[str, Any] = {}
        for name in ("brief", "details", "steps_taken", "priority"):
            value, problem = _check_one(SPECS[name], item.get(name))
            values[name] = value
            if problem:
                problems.append(FieldProblem("also", f"Further issue {index}: {problem}"))
        if not any(p.message.startswith(f"Further issue {index}:") for p in problems):
            issues.append(AlsoIssue(**values))
    return tuple(issues), problems


def build_request(
    raw: Mapping[str, Any], system_report: Mapping[str, Any] | None = None
) -> CaseRequest:
    """A valid ``CaseRequest`` from raw values, or ``CaseInvalid`` naming every problem."""
    cleaned, problems = check_fields(raw)
    also, also_problems = _check_also(raw.get("also"))
    all_problems = problems + tuple(also_problems)
    if all_problems:
        raise CaseInvalid(all_problems)
    return CaseRequest(**cleaned, system_report=system_report, also=also)
