"""How a case's status reads to people: one word for one state wherever it is shown.

The desk stores a code (``open``, ``in_progress``, ...); the web console, the tray
and ``vxassist case show|list`` all show the label here, so the customer and the
engineer name a state alike. ``open`` is a case nobody has taken up yet: "New".
"""

from __future__ import annotations

#: the desk's statuses and their labels (the workflow: New -> In progress ->
#: Waiting on customer -> Resolved -> Closed; No contract is never worked on)
STATUS_LABELS: dict[str, str] = {
    "open": "New",
    "in_progress": "In progress",
    "waiting_customer": "Waiting on customer",
    "resolved": "Resolved",
    "closed": "Closed",
    "no_contract": "No contract",
}
#: a request this host keeps in its outbox until the desk has it (no desk status yet)
QUEUED = "queued"
QUEUED_LABEL = "Queued, not sent yet"


def status_label(status: object) -> str:
    """The label of a status code; an unknown code as words ("on_hold" -> "on hold")."""
    code = str(status or "")
    if code == QUEUED:
        return QUEUED_LABEL
    return STATUS_LABELS.get(code, code.replace("_", " "))
