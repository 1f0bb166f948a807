"""Idempotency-Key: a retry never makes a second case, even when retries race."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from tests.desk.conftest import Desk, case_body, live_server
from vxassist.desk.models import Case, IdempotencyRecord


def _count_cases(desk: Desk) -> int:
    with desk.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def test_create_needs_a_key(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    answer = desk.client.post("/api/v1/cases", json=case_body(), headers=host)
    assert answer.status_code == 400
    assert answer.json()["detail"]["code"] == "idempotency_key_missing"
    assert _count_cases(desk) == 0


def test_same_key_same_body_returns_the_first_answer(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    first = desk.create(host, key="k-1")
    desk.clock.advance(minutes=5)
    again = desk.create(host, key="k-1")
    assert again.status_code == first.status_code == 201
    assert again.content == first.content
    assert _count_cases(desk) == 1


def test_same_body_in_another_key_order_is_the_same_request(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    first = desk.create(host, key="k-1")
    reordered = dict(reversed(list(case_body().items())))
    again = desk.client.post(
        "/api/v1/cases", json=reordered, headers={**host, "Idempotency-Key": "k-1"}
    )
    assert again.content == first.content


def test_same_key_different_body_is_409(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    desk.create(host, key="k-1")
    other = desk.create(host, key="k-1", priority=1)
    assert other.status_code == 409
    assert other.json()["detail"]["code"] == "idempotency_key_reused"
    assert _count_cases(desk) == 1


def test_keys_belong_to_one_host(desk: Desk) -> None:
    desk.add_contract()
    one, two = desk.enroll("h1"), desk.enroll("h2")
    first = desk.create(one, key="shared")
    second = desk.create(two, key="shared")
    assert second.status_code == 201
    assert second.json()["case_number"] != first.json()["case_number"]


def test_a_refused_request_can_be_sent_again_under_its_key(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    refused = desk.create(host, key="k-1", continues_case=999)
    assert refused.status_code == 404
    with desk.db.reading() as session:
        assert session.scalar(select(IdempotencyRecord)) is None
    assert desk.create(host, key="k-1", continues_case=None).status_code == 201


def test_racing_duplicates_make_one_case(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    body = case_body()
    key = uuid.uuid4().hex
    start = threading.Barrier(12)
    with live_server(desk.app) as base:

        def send(_: int) -> tuple[int, bytes]:
            with httpx.Client(base_url=base, timeout=30) as client:
                start.wait(timeout=10)
                answer = client.post(
                    "/api/v1/cases", json=body, headers={**host, "Idempotency-Key": key}
                )
                return answer.status_code, answer.content

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(send, range(12)))
    assert {status for status, _ in answers} == {201}
    assert len({content for _, content in answers}) == 1
    assert _count_cases(desk) == 1


def test_racing_creates_get_distinct_consecutive_numbers(desk: Desk) -> None:
    desk.add_contract()
    hosts = [desk.enroll(f"h{i}") for i in range(3)]
    start = threading.Barrier(15)
    with live_server(desk.app) as base:

        def send(i: int) -> int:
            with httpx.Client(base_url=base, timeout=30) as client:
                start.wait(timeout=10)
                answer = client.post(
                    "/api/v1/cases",
                    json=case_body(),
                    headers={**hosts[i % 3], "Idempotency-Key": f"key-{i}"},
                )
                assert answer.status_code == 201, answer.text
                return int(answer.json()["case_number"])

        with ThreadPoolExecutor(max_workers=15) as pool:
            numbers = sorted(pool.map(send, range(15)))
    assert numbers == list(range(1001, 1016))


def test_a_retry_after_the_case_moved_on_still_gets_its_first_answer(desk: Desk) -> None:
    desk.add_contract()
    host = desk.enroll()
    number = desk.create(host).json()["case_number"]
    headers = {**host, "Idempotency-Key": "upd-1"}
    body = {"text": "more detail", "priority": None}
    first = desk.client.post(f"/api/v1/cases/{number}/updates", json=body, headers=headers)
    desk.client.post(
        f"/api/v1/engineer/cases/{number}/status",
        json={"status": "closed"},
        headers=desk.engineer(),
    )
    retry = desk.client.post(f"/api/v1/cases/{number}/updates", json=body, headers=headers)
    assert retry.status_code == 200
    assert retry.content == first.content
    fresh = desk.client.post(
        f"/api/v1/cases/{number}/updates", json=body, headers={**host, "Idempotency-Key": "upd-2"}
    )
    assert fresh.status_code == 409
