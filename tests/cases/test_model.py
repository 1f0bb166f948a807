"""Validation of a case request: every field, messages a customer can act on."""

from __future__ import annotations

from typing import Any

import pytest

from vxassist.cases.fields import BRIEF_MAX, FIELD_NAMES, REQUIRED_FIELDS
from vxassist.cases.model import (
    CaseInvalid,
    build_request,
    check_fields,
    parse_case_number,
    priority_help,
)


def good(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "company": "Acme Hotels",
        "install_type": "single server",
        "location": "Reno, NV",
        "database_type": "SQL Server 2019",
        "vxtracker_server": "vxsrv01 7.4.2",
        "pbx_manufacturer": "Avaya",
        "pbx_model": "IP Office 500 V2",
        "contact_name": "Bob Jones",
        "contact_phone": "+1 775 555 0100",
        "contact_email": "bob@acme.example.com",
        "brief": "Calls from the front desk are not recorded",
        "details": "Since Monday no calls appear.\nThe SMDR link looks idle.",
        "steps_taken": "Restarted the VXTracker service.",
        "priority": "2",
    }
    values.update(changes)
    return values


def messages(values: dict[str, Any]) -> dict[str, str]:
    _, problems = check_fields(values)
    return {p.field: p.message for p in problems}


def test_a_complete_request_builds_with_typed_values() -> None:
    request = build_request(good(continues_case="#1042", third_party_app="Opera PMS"))
    assert request.priority == 2
    assert request.continues_case == 1042
    body = request.payload()
    assert set(FIELD_NAMES) <= set(body)
    assert body["third_party_version"] is None
    assert body["third_party_app"] == "Opera PMS"
    assert body["system_report"] is None
    assert body["also"] == []


def test_every_missing_required_field_is_named_with_its_label() -> None:
    with pytest.raises(CaseInvalid) as caught:
        build_request({})
    fields = [p.field for p in caught.value.problems]
    assert fields == list(REQUIRED_FIELDS)
    assert "Technical contact e-mail: missing; where updates go." in caught.value.message
    assert caught.value.exit_code == 2


def test_bad_email_says_how_to_write_it() -> None:
    assert messages(good(contact_email="bob@"))["contact_email"] == (
        "Technical contact e-mail: 'bob@' is not an e-mail address; write it like name@example.com."
    )
    for bad in ("bob", "bob@example", "b ob@example.com", "bob@-x.com", "a@b@c.com"):
        assert "contact_email" in messages(good(contact_email=bad)), bad


@pytest.mark.parametrize("value", ["0", "5", "high", "", None, "1.5", True])
def test_priority_must_be_one_to_four(value: object) -> None:
    message = messages(good(priority=value))["priority"]
    assert message.startswith("Priority level:")
    assert "1 to 4" in message


@pytest.mark.parametrize("value", [1, "1", " 4 "])
def test_priority_accepts_levels(value: object) -> None:
    assert "priority" not in messages(good(priority=value))


def test_brief_longer_than_a_subject_line_is_refused() -> None:
    message = messages(good(brief="x" * (BRIEF_MAX + 1)))["brief"]
    assert f"shorten it to {BRIEF_MAX}" in message
    assert "brief" not in messages(good(brief="x" * BRIEF_MAX))


def test_one_line_fields_refuse_newlines_and_control_characters() -> None:
    assert messages(good(brief="two\nlines"))["brief"] == "Brief description: write it on one line."
    assert "control characters" in messages(good(company="Acme\x1b[2J"))["company"]
    assert "details" not in messages(good(details="line one\nline two"))


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("1042", 1042),
        ("#77", 77),
        ("Case 12", 12),
        (12, 12),
        ("0", None),
        ("12a", None),
        (-3, None),
        ("", None),
        (True, None),
    ],
)
def test_case_number_formats(raw: object, number: int | None) -> None:
    assert parse_case_number(raw) == number


def test_a_malformed_continued_case_is_explained() -> None:
    message = messages(good(continues_case="last week's"))["continues_case"]
    assert "is not a case number" in message
    assert "continues_case" not in messages(good(continues_case=""))


def test_phone_must_look_like_a_phone_number() -> None:
    assert "is not a phone number" in messages(good(contact_phone="call me"))["contact_phone"]
    assert "is not a phone number" in messages(good(contact_phone="12"))["contact_phone"]
    assert "contact_phone" not in messages(good(contact_phone="(866) 489-8722 ext 2"))


def test_unknown_keys_are_refused_not_dropped() -> None:
    assert "not a case field" in messages(good(contact_mail="x@y.com"))["contact_mail"]


def test_further_issues_are_validated_each() -> None:
    request = build_request(
        good(
            also=[
                {
                    "brief": "Reports slow",
                    "details": "Takes 5 min",
                    "steps_taken": "none",
                    "priority": 3,
                }
            ]
        )
    )
    assert request.payload()["also"] == [
        {"brief": "Reports slow", "details": "Takes 5 min", "steps_taken": "none", "priority": 3}
    ]
    with pytest.raises(CaseInvalid) as caught:
        build_request(good(also=[{"brief": "", "details": "d", "steps_taken": "s", "priority": 9}]))
    text = caught.value.message
    assert "Further issue 1: Brief description: missing" in text
    assert "Further issue 1: Priority level:" in text


def test_system_report_travels_with_the_request() -> None:
    report = {"os": {"name": "Windows Server 2019"}}
    assert build_request(good(), system_report=report).payload()["system_report"] == report


def test_priority_help_lists_every_level() -> None:
    text = priority_help()
    assert text.splitlines()[0].startswith("1 = System Down")
    assert len(text.splitlines()) == 4
