"""One vocabulary of case fields (DESIGN.md): the agent and the desk agree.

The CLI flags and the e-mail body are generated from ``CASE_FIELDS``; the agent's
dataclass and the desk's schemas are written out, so they are checked here.
"""

from __future__ import annotations

import dataclasses

from vxassist.cases.fields import FIELD_NAMES
from vxassist.cases.model import CaseRequest
from vxassist.desk.schemas import CaseIn, CaseOut


def test_agent_model_has_exactly_the_case_fields() -> None:
    names = {f.name for f in dataclasses.fields(CaseRequest)}
    assert names - {"system_report", "also"} == set(FIELD_NAMES)


def test_desk_takes_and_answers_every_case_field() -> None:
    assert set(FIELD_NAMES) <= set(CaseIn.model_fields)
    assert set(FIELD_NAMES) <= set(CaseOut.model_fields)
    extra_in = set(CaseIn.model_fields) - set(FIELD_NAMES)
    assert extra_in == {"system_report", "also"}
