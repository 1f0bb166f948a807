"""The OpenAPI document fuzzed with schemathesis: whatever arrives, the desk never fails (5xx).

Every operation of the document gets valid (positive) and invalid (negative)
requests made from its own schema, a bounded number each, with real tokens,
on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.desk.conftest import Desk

EXAMPLES = 15
INTAKE_TAGS = {"health", "enrollment", "cases", "engineer"}


def test_no_server_errors_on_any_operation(desk: Desk) -> None:
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
                response = case.call(headers=dict(headers))  # noqa: B023 (runs in this loop turn)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:300]}"
                    )
                elif response.status_code >= 400 and response.status_code != 422:
                    detail = response.json()["detail"]
                    assert detail["code"] and detail["message"].endswith("."), response.text

            try:
                check()
            except Unsatisfiable:
                # nothing to break in an operation without inputs (e.g. /healthz)
                assert mode is GenerationMode.NEGATIVE, operation.label
                continue
            tried += 1
    assert failures == []
    assert tried >= len(operations) + 5  # most operations were fuzzed both ways
