"""The OpenAPI document fuzzed with schemathesis: the desk never fails (5xx) and the
document tells the truth (every check schemathesis has: status codes, headers,
bodies, valid data accepted, invalid data refused, methods, authentication).

Every operation of the document gets valid (positive) and invalid (negative)
requests made from its own schema, a bounded number each, with real tokens,
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.failures import FailureGroup

from tests.desk.conftest import Desk

EXAMPLES = 15
INTAKE_TAGS = {"health", "enrollment", "cases", "engineer", "kb", "updates"}


#: checks that only a response-time budget or a stateful run gives meaning to
NOT_HERE = {"max_response_time"}


def all_checks() -> list[Any]:
    load_all_checks()
    return [
        c
        for name, c in zip(CHECKS.get_all_names(), CHECKS.get_all(), strict=True)
        if name not in NOT_HERE
    ]


# every operation of the document, both ways: the time grows with the routes, not a hang
@pytest.mark.timeout(900)
def test_every_check_passes_on_every_operation(desk: Desk) -> None:
    checks = all_checks()
    assert len(checks) >= 12, [c.__name__ for c in checks]
    desk.add_contract()
    tokens = {"agent": desk.enroll(), "engineer": desk.engineer()}
    desk.create(tokens["agent"])  # case 1001 exists, so some generated numbers find it
    schema = schemathesis.openapi.from_asgi("/openapi.json", desk.app)
    # the case-intake operations; long-polling session routes are fuzzed by their own tests
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())  # type: ignore[union-attr]
        if set(op.tags or ()) & INTAKE_TAGS
    ]
    assert any(op.path == "/api/v1/cases" and op.method.upper() == "POST" for op in operations)
    failures: list[str] = []
    tried = 0

    for operation in operations:
        headers = tokens["engineer" if "/engineer/" in operation.path else "agent"]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded time
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(mode))
            def check(case: Any) -> None:
                sent = dict(headers)  # noqa: B023 (runs in this loop turn)
                response = case.call(headers=sent)
                try:
                    case.validate_response(response, checks=checks, headers=sent)
                except FailureGroup as group:
                    failures.extend(
                        f"{case.method} {operation.path} -> {response.status_code}: "  # noqa: B023
                        f"{failure.title}: {response.text[:200]} {case.as_curl_command()[:400]}"
                        for failure in group.exceptions
                    )
                    return
                if response.status_code >= 400 and response.status_code != 422:
                    detail = response.json()["detail"]
                    assert detail["code"] and detail["message"].endswith("."), response.text

            try:
                check()
            except Unsatisfiable:
                # nothing to break in an operation without inputs (e.g. /healthz)
                assert mode is GenerationMode.NEGATIVE, operation.label
                continue
            tried += 1
    found = sorted(set(failures))
    for line in found:
        print("FUZZ", line)
    assert found == []
    assert tried >= len(operations) + 5  # most operations were fuzzed both ways
