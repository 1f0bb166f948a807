"""The OpenAPI document says what the desk does (the fuzz test checks it by example)."""

from __future__ import annotations

import re
from typing import Any

from tests.desk.conftest import Desk


def _document(desk: Desk) -> dict[str, Any]:
    answer = desk.client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def test_every_operation_with_a_body_documents_the_400_for_a_body_that_is_not_json(
    desk: Desk,
) -> None:
    document = _document(desk)
    with_body = [
        (path, method, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if "requestBody" in op
    ]
    assert len(with_body) >= 5
    for path, method, op in with_body:
        assert op["responses"]["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }, (path, method)
    answer = desk.client.post(
        "/api/v1/enroll", content=b"code=1", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["detail"]["code"] == "body_not_json"


def test_a_new_case_requires_an_idempotency_key_in_the_document(desk: Desk) -> None:
    parameters = _document(desk)["paths"]["/api/v1/cases"]["post"]["parameters"]
    key = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert key["required"] is True
    assert key["schema"]["type"] == "string"


def test_the_422_body_is_documented_as_it_is_sent(desk: Desk) -> None:
    desk.add_contract()
    agent = desk.enroll()
    schemas = _document(desk)["components"]["schemas"]
    assert schemas["HTTPValidationError"]["required"] == ["detail"]
    entry = schemas["ValidationError"]
    answer = desk.create(agent, priority=9)
    assert answer.status_code == 422
    for item in answer.json()["detail"]:
        assert set(entry["required"]) <= set(item) <= set(entry["properties"])


def test_whitespace_only_text_is_refused_by_the_documents_pattern(desk: Desk) -> None:
    brief = _document(desk)["components"]["schemas"]["CaseIn"]["properties"]["brief"]
    pattern = re.compile(brief["pattern"])
    for blank in (" ", "\t \n", "\u00a0\u2003\u3000"):
        assert pattern.search(blank) is None, repr(blank)
    for text in ("x", "  calls lost  ", "\u00a0a"):
        assert pattern.search(text) is not None, repr(text)


def test_a_405_names_the_allowed_methods(desk: Desk) -> None:
    answer = desk.client.delete("/api/v1/cases")
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert answer.json()["detail"]["code"] == "method_not_allowed"
    # a path outside the document keeps the framework's own list
    answer = desk.client.post("/openapi.json")
    assert answer.status_code == 405 and "GET" in answer.headers["Allow"]


def test_busy_and_too_large_are_documented_where_they_can_happen(desk: Desk) -> None:
    paths = _document(desk)["paths"]
    create = paths["/api/v1/cases"]["post"]["responses"]
    assert "Retry-After" in create["503"]["headers"]
    assert "413" in create
    assert "503" not in paths["/api/v1/healthz"]["get"]["responses"]
    assert all(
        "503" in op["responses"]
        for path, ops in paths.items()
        if not path.endswith("/healthz")
        for op in ops.values()
    )
