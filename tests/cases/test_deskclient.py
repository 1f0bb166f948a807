"""The desk client: the real desk's answers, and servers that answer badly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cases.conftest import free_port
from tests.cases.test_model import good
from tests.fixtures.desk import RunningDesk, unique_contract
from vxassist.cases.model import build_request
from vxassist.cases.outbox import Kind, OutboxSender, OutboxStore, RetryPolicy, State
from vxassist.deskclient import (
    DeskClient,
    DeskError,
    DeskRejected,
    DeskUnavailable,
    parse_retry_after,
    validation_sentence,
)

#: path -> (status, headers, body, seconds to wait before answering)
ANSWERS: dict[str, tuple[int, dict[str, str], bytes, float]] = {
    "/garbage": (200, {"Content-Type": "text/html"}, b"<html>captive portal</html>", 0),
    "/list": (200, {"Content-Type": "application/json"}, b"[1, 2]", 0),
    "/busy": (503, {"Retry-After": "42"}, b"", 0),
    "/limited": (
        429,
        {"Retry-After": "7", "Content-Type": "application/json"},
        b'{"detail": {"code": "slow_down", "message": "Slow down."}}',
        0,
    ),
    "/teapot": (418, {"Content-Type": "text/plain"}, b"no", 0),
    "/slow": (200, {"Content-Type": "application/json"}, b"{}", 3.0),
}


class BadServer(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        if path.startswith("/api/v1/cases"):  # the outbox's path: everything is garbage
            path = "/garbage"
        status, headers, body, wait = ANSWERS[path]
        if wait:
            time.sleep(wait)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def bad_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BadServer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_garbage_is_not_the_desk(bad_server: str) -> None:
    client = DeskClient(bad_server)
    with pytest.raises(DeskUnavailable, match="is not the desk's"):
        client.request("GET", "/garbage")
    with pytest.raises(DeskUnavailable, match="is not the desk's"):
        client.request("GET", "/list")


def test_busy_and_rate_limited_carry_retry_after(bad_server: str) -> None:
    client = DeskClient(bad_server)
    with pytest.raises(DeskUnavailable) as busy:
        client.request("GET", "/busy")
    assert busy.value.retry_after == 42
    with pytest.raises(DeskUnavailable) as limited:
        client.request("GET", "/limited")
    assert limited.value.retry_after == 7
    with pytest.raises(DeskRejected) as teapot:
        client.request("GET", "/teapot")
    assert teapot.value.status == 418 and "refused" in teapot.value.message


def test_a_desk_that_does_not_answer_in_time(bad_server: str) -> None:
    with pytest.raises(DeskUnavailable, match="did not answer in time"):
        DeskClient(bad_server, timeout=0.5).request("GET", "/slow")


def test_nobody_listening() -> None:
    with pytest.raises(DeskUnavailable, match="cannot be reached"):
        DeskClient(f"http://127.0.0.1:{free_port()}", timeout=5).healthz()


def test_a_bad_address_is_refused_before_any_request() -> None:
    for bad in ("", "desk.example.com", "file:///etc/passwd", "http://"):
        with pytest.raises(DeskError, match="is not a desk address"):
            DeskClient(bad)


def test_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("Thu, 26 Nov 2026 12:01:00 GMT", now_epoch=1795694400.0) == 60
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_fastapi_validation_list_reads_as_fields() -> None:
    sentence = validation_sentence(
        [
            {"loc": ["body", "priority"], "msg": "Input should be less than or equal to 4"},
            {"loc": ["body", "contact_email"], "msg": "Field required"},
        ]
    )
    assert "Priority level (priority): Input should be less than or equal to 4" in sentence
    assert "Technical contact e-mail (contact_email): Field required" in sentence


def test_the_outbox_keeps_waiting_on_garbage(bad_server: str, tmp_path: Path) -> None:
    store = OutboxStore(tmp_path / "outbox")
    item = store.add(
        Kind.CASE, "POST", "/api/v1/cases", build_request(good()).payload(), datetime.now(UTC)
    )

    def no_fallback(*_: object) -> None:
        raise AssertionError("inside the retry window there is no fallback")

    sender = OutboxSender(
        store,
        DeskClient(bad_server),
        no_fallback,  # type: ignore[arg-type]
        RetryPolicy(window_s=3600),
        rand=lambda: 0.0,
    )
    after = sender.attempt(item)
    assert after.state is State.PENDING
    assert "is not the desk's" in after.last_error
    assert after.next_attempt_at > item.next_attempt_at


def test_the_real_desk_explains_401_and_422(shared_desk: RunningDesk) -> None:
    with pytest.raises(DeskRejected) as unauthorized:
        DeskClient(shared_desk.url, "not-a-token").list_cases()
    assert unauthorized.value.status == 401
    assert unauthorized.value.message.endswith(".")

    contract = unique_contract(shared_desk)
    answer = DeskClient(shared_desk.url).enroll(
        shared_desk.enrollment_code(contract["contract_id"]), "vxsrv01", None
    )
    agent = DeskClient(shared_desk.url, answer["token"])
    body = build_request(good()).payload()
    body["priority"] = 9
    with pytest.raises(DeskRejected) as invalid:
        agent.create_case(body, "key-422")
    assert invalid.value.status == 422
    assert "priority" in invalid.value.message
    with pytest.raises(DeskRejected) as missing:
        agent.request("POST", "/api/v1/cases", json=build_request(good()).payload())
    assert missing.value.code == "idempotency_key_missing"


def test_the_outbox_honours_retry_after_and_stops_on_a_refusal(
    bad_server: str, tmp_path: Path
) -> None:
    store = OutboxStore(tmp_path / "outbox")
    now = datetime.now(UTC)
    limited = store.add(Kind.CASE, "POST", "/limited", {"brief": "b"}, now)
    refused = store.add(Kind.CASE, "POST", "/teapot", {"brief": "b"}, now)

    def no_fallback(*_: object) -> None:
        raise AssertionError("inside the retry window there is no fallback")

    sender = OutboxSender(
        store,
        DeskClient(bad_server),
        no_fallback,  # type: ignore[arg-type]
        RetryPolicy(window_s=3600, base_s=1),
        clock=lambda: now,
        rand=lambda: 0.0,
    )
    after = sender.attempt(refused)
    assert after.state is State.REJECTED
    assert "refused" in after.last_error

    first = sender.attempt(limited)
    assert first.state is State.PENDING
    assert first.next_attempt_at == now + timedelta(seconds=7)
    assert sender.flush() == []  # not due yet, and the rejected one is never retried
    [again] = sender.flush(force=True)
    assert again.id == limited.id and again.attempts == 2
    assert again.idempotency_key == limited.idempotency_key
