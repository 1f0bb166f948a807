"""Enrollment and identity: one-time codes, hashed tokens, who is calling."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import select

from tests.desk.conftest import Desk, live_server
from vxassist.desk.models import Agent, EnrollmentCode
from vxassist.desk.tokens import token_hash


def _enroll(desk: Desk, code: str, hostname: str = "vxhost1") -> httpx.Response:
    answer: httpx.Response = desk.client.post(
        "/api/v1/enroll",
        json={"code": code, "hostname": hostname, "host_public_key": "ssh-ed25519 AAAAC3 host"},
    )
    return answer


def test_health_needs_no_token(desk: Desk) -> None:
    for path in ("/healthz", "/api/v1/healthz"):
        answer = desk.client.get(path)
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok"}


def test_enrollment_gives_a_token_that_is_stored_only_hashed(desk: Desk) -> None:
    desk.add_contract()
    answer = _enroll(desk, desk.code())
    assert answer.status_code == 201
    data = answer.json()
    assert data["contract_id"] == "C-1001"
    assert data["company"] == "Acme Telecom"
    with desk.db.reading() as session:
        agent = session.get(Agent, data["agent_id"])
        assert agent is not None
        assert agent.hostname == "vxhost1"
        assert agent.host_public_key == "ssh-ed25519 AAAAC3 host"
        assert agent.token_hash == token_hash(data["token"])
        assert data["token"] not in agent.token_hash
    who = desk.client.get(
        "/api/v1/whoami", headers={"Authorization": f"Bearer {data['token']}"}
    ).json()
    assert who == {
        "kind": "agent",
        "name": "vxhost1",
        "agent_id": data["agent_id"],
        "contract_id": "C-1001",
        "company": "Acme Telecom",
        "updates": None,  # the desk's operator names no newer agent version ([updates])
    }


def test_enrollment_codes_are_stored_hashed(desk: Desk) -> None:
    desk.add_contract()
    code = desk.code()
    with desk.db.reading() as session:
        hashes = list(session.scalars(select(EnrollmentCode.code_hash)))
    assert hashes == [token_hash(code)]


def test_code_is_accepted_as_typed_by_a_person(desk: Desk) -> None:
    desk.add_contract()
    code = desk.code()
    typed = code.replace("-", " ").lower()
    assert _enroll(desk, typed).status_code == 201


def test_reused_code_is_refused_with_a_sentence(desk: Desk) -> None:
    desk.add_contract()
    code = desk.code()
    assert _enroll(desk, code).status_code == 201
    again = _enroll(desk, code, "intruder")
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "enrollment_code_used"
    assert "new one" in again.json()["detail"]["message"]


def test_unknown_code_is_refused(desk: Desk) -> None:
    desk.add_contract()
    answer = _enroll(desk, "AAAA-BBBB-CCCC")
    assert answer.status_code == 404
    assert answer.json()["detail"]["code"] == "enrollment_code_unknown"


def test_expired_code_is_refused(desk: Desk) -> None:
    desk.add_contract()
    code = desk.code()
    desk.clock.advance(days=7, seconds=1)
    answer = _enroll(desk, code)
    assert answer.status_code == 410
    assert answer.json()["detail"]["code"] == "enrollment_code_expired"


def test_code_lasts_the_configured_days(desk: Desk) -> None:
    desk.add_contract()
    code = desk.code(days=2)
    desk.clock.advance(days=1, hours=23)
    assert _enroll(desk, code).status_code == 201


def test_one_code_enrolls_one_host_even_when_raced(desk: Desk) -> None:
    desk.add_contract()
    code = desk.code()
    with live_server(desk.app) as base:

        def attempt(i: int) -> int:
            with httpx.Client(base_url=base, timeout=30) as client:
                return client.post(
                    "/api/v1/enroll", json={"code": code, "hostname": f"h{i}"}
                ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = sorted(pool.map(attempt, range(8)))
    assert codes == [201] + [409] * 7
    with desk.db.reading() as session:
        assert len(list(session.scalars(select(Agent.agent_id)))) == 1


def test_missing_or_unknown_token_is_401_with_a_sentence(desk: Desk) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer vxa_not-a-real-token"},
        {"Authorization": "Basic eDp5"},
    ):
        answer = desk.client.get("/api/v1/whoami", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["detail"]["code"] == "unauthorized"
        assert answer.json()["detail"]["message"].endswith(".")


def test_engineer_token_identifies_the_engineer(desk: Desk) -> None:
    headers = desk.engineer("jdoe")
    who = desk.client.get("/api/v1/whoami", headers=headers).json()
    assert who == {
        "kind": "engineer",
        "name": "jdoe",
        "agent_id": None,
        "contract_id": None,
        "company": None,
        "updates": None,
    }


def test_an_engineer_token_with_an_agent_prefix_is_not_accepted(desk: Desk) -> None:
    token = desk.engineer("jdoe")["Authorization"].removeprefix("Bearer vxe_")
    answer = desk.client.get("/api/v1/whoami", headers={"Authorization": f"Bearer vxa_{token}"})
    assert answer.status_code == 401


def test_malformed_enrollment_is_422_naming_the_field(desk: Desk) -> None:
    answer = desk.client.post("/api/v1/enroll", json={"code": "AAAA-BBBB-CCCC"})
    assert answer.status_code == 422
    assert any(item["loc"][-1] == "hostname" for item in answer.json()["detail"])
