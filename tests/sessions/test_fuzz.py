"""The session routes fuzzed from their OpenAPI schema (schemathesis): whatever
arrives, the desk answers with its own error body and never fails (5xx)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.desk.conftest import Desk, SettableClock
from tests.sessions.conftest import build_world, sessions_config
from vxassist.desk.app import create_app

EXAMPLES = 5


def test_session_routes_never_fail(tmp_path: Path) -> None:
    clock = SettableClock()
    # long polls are cut short so the fuzzing stays bounded in time
    config = sessions_config(request_timeout_s=180, poll_interval_s=0.05, max_wait_s=0.1)
    url = f"sqlite:///{tmp_path / 'desk.sqlite3'}"
    app = create_app(url, config, clock=clock)
    with TestClient(app) as client:
        world = build_world(Desk(app, client, app.state.db, clock, config, url))
        host = world.hosts["host1"]
        sid = world.ask("alice", host.case_number).json()["session_id"]
        tokens = {"agent": host.headers, "engineer": world.engineers["alice"]}
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [
            op
            for op in (result.ok() for result in schema.get_all_operations())
            if "sessions" in (op.tags or ())
        ]
        assert len(operations) == 11
        failures: list[str] = []
        calls = [0]
        for operation in operations:
            headers = tokens["engineer" if "/engineer/" in operation.path else "agent"]
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(mode))
                def check(case: Any) -> None:
                    calls[0] += 1
                    if (
                        case.path_parameters
                        and "session_id" in case.path_parameters
                        and (calls[0] % 2)
                    ):
                        case.path_parameters["session_id"] = sid  # reach the real session too
                    response = case.call(headers=dict(headers))  # noqa: B023
                    if response.status_code >= 500:
                        failures.append(
                            f"{case.method} {case.formatted_path} -> {response.status_code}: "
                            f"{response.text[:300]}"
                        )
                    elif response.status_code >= 400 and response.status_code != 422:
                        detail = response.json()["detail"]
                        assert detail["code"] and detail["message"].endswith("."), response.text

                check()
        assert failures == []
        assert calls[0] >= len(operations) * 2
