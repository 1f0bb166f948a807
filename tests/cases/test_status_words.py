"""One word for one state: the labels the console, the tray and `vxassist case` share."""

from __future__ import annotations

from vxassist.cases.status import QUEUED, STATUS_LABELS, status_label
from vxassist.desk.casework import TRANSITIONS


def test_every_status_of_the_workflow_has_its_label() -> None:
    assert set(TRANSITIONS) | {"no_contract"} == set(STATUS_LABELS)
    assert status_label("open") == "New"  # a case nobody has taken up yet
    assert status_label("waiting_customer") == "Waiting on customer"
    assert status_label(QUEUED) == "Queued, not sent yet"
    assert status_label("on_hold") == "on hold"  # a status of a newer desk, as words
    assert status_label(None) == ""


def test_the_console_shows_the_same_labels() -> None:
    from vxassist.desk.console.render import ENV

    assert ENV.globals["STATUS_NAMES"] is STATUS_LABELS
