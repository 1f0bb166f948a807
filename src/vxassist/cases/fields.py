"""The case vocabulary shared by the API, the TOML file, the command line and the UI.

One list of field names (DESIGN.md, "Case fields") and the priority levels of the
support policy. The desk's schemas, the agent's model and the CLI flags are all
derived from these, so a field cannot exist in one place and not in another.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Priority(IntEnum):
    """Priority levels of the support policy; 1 is the highest."""

    SYSTEM_DOWN = 1
    SEVERE = 2
    DEGRADED = 3
    QUESTION = 4

    @property
    def label(self) -> str:
        return PRIORITY_LABELS[self]

    @property
    def meaning(self) -> str:
        return PRIORITY_MEANINGS[self]


PRIORITY_LABELS: dict[Priority, str] = {
    Priority.SYSTEM_DOWN: "System Down",
    Priority.SEVERE: "Severe",
    Priority.DEGRADED: "Degraded",
    Priority.QUESTION: "Question / request",
}

PRIORITY_MEANINGS: dict[Priority, str] = {
    Priority.SYSTEM_DOWN: "VXTracker is down or not recording calls",
    Priority.SEVERE: "a major function is unusable and there is no workaround",
    Priority.DEGRADED: "something does not work right but a workaround exists",
    Priority.QUESTION: "a question or a request",
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    required: bool
    help: str
    #: filled from the system report when the machine can tell
    from_system: bool = False


CASE_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("company", "Company name", True, "your company's name as on the contract"),
    FieldSpec("install_type", "Type of install", True, "e.g. single server, client/server"),
    FieldSpec("location", "Location", True, "site or city of this installation"),
    FieldSpec("database_type", "Database type", True, "e.g. SQL Server 2019", True),
    FieldSpec("vxtracker_server", "VXTracker server", True, "host name and version", True),
    FieldSpec("pbx_manufacturer", "PBX manufacturer", True, "e.g. Avaya", True),
    FieldSpec("pbx_model", "PBX model number", True, "e.g. IP Office 500 V2", True),
    FieldSpec("contact_name", "Technical contact name", True, "who we call back"),
    FieldSpec("contact_phone", "Technical contact phone", True, "a number we can reach"),
    FieldSpec("contact_email", "Technical contact e-mail", True, "where updates go"),
    FieldSpec("brief", "Brief description", True, "one line; it becomes the e-mail subject"),
    FieldSpec("details", "Detailed description", True, "what happens, since when, errors"),
    FieldSpec("steps_taken", "Steps already taken", True, "what you tried so far"),
    FieldSpec("priority", "Priority level", True, "1 System Down ... 4 Question"),
    FieldSpec("continues_case", "Continues case", False, "the case number this follows up"),
    FieldSpec("third_party_app", "Affected third-party application", False, "name, if any"),
    FieldSpec("third_party_version", "Its version", False, "version, if any"),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in CASE_FIELDS)
REQUIRED_FIELDS: tuple[str, ...] = tuple(f.name for f in CASE_FIELDS if f.required)

#: longest brief (it is an e-mail subject line)
BRIEF_MAX = 120
