"""The one door to the desk's HTTP API (``requests`` enters the project here only).

``DeskClient.request`` is generic: every answer is a JSON object, every failure
one of two errors a caller can act on:

- ``DeskUnavailable``: worth trying again later (no connection, a timeout, 429,
  5xx, or an answer that is not the desk's JSON). ``retry_after`` carries the
  seconds from a ``Retry-After`` header when the desk gave one.
- ``DeskRejected``: the desk understood and said no (any other 4xx). ``code``
  and ``message`` come from the desk's error body; for a 422 the message lists
  the fields the desk found wrong.

Callers in asyncio code run it in a thread (``asyncio.to_thread``); every call
has an explicit timeout.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from vxassist import __version__
from vxassist.errors import VxError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 15.0
API = "/api/v1"


class DeskError(VxError):
    """Something went wrong talking to the desk."""


class DeskUnavailable(DeskError):
    """The desk could not be reached or did not answer usefully; try again later."""

    def __init__(self, message: str, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, detail)
        self.retry_after = retry_after


class DeskRejected(DeskError):
    """The desk refused the request (a 4xx other than 408/429)."""

    def __init__(self, message: str, detail: str = "", code: str = "", status: int = 0) -> None:
        super().__init__(message, detail)
        self.code = code
        self.status = status


def parse_retry_after(value: str | None, now_epoch: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    import time

    now = time.time() if now_epoch is None else now_epoch
    return max(0.0, when.timestamp() - now)


def _field_name(loc: Any) -> str:
    """``["body", "contact_email"]`` as "Technical contact e-mail (contact_email)"."""
    from vxassist.cases.fields import CASE_FIELDS

    parts = [str(p) for p in loc] if isinstance(loc, list | tuple) else [str(loc)]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    name = ".".join(parts) or "request"
    labels = {f.name: f.label for f in CASE_FIELDS}
    return f"{labels[name]} ({name})" if name in labels else name


def validation_sentence(detail: Any) -> str:
    """FastAPI's 422 list as one readable sentence: "brief: field required; ..."."""
    if not isinstance(detail, list):
        return "The desk found the request invalid; check the fields and try again."
    items = []
    for entry in detail:
        if isinstance(entry, Mapping):
            items.append(f"{_field_name(entry.get('loc', ()))}: {entry.get('msg', 'invalid')}")
    if not items:
        return "The desk found the request invalid; check the fields and try again."
    return "The desk found these fields invalid; correct them and try again: " + "; ".join(items)


def _error_body(response: requests.Response) -> tuple[str, str]:
    """``(code, message)`` from the desk's error body, or empty strings."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, Mapping):
        return "", ""
    detail = body.get("detail")
    if isinstance(detail, Mapping):
        return str(detail.get("code", "")), str(detail.get("message", ""))
    if response.status_code == 422 or isinstance(detail, list):
        return "validation_error", validation_sentence(detail)
    if isinstance(detail, str):
        return "", detail
    return "", ""


class DeskClient:
    """A small JSON client for the desk; one instance per base URL and token."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        session: requests.Session | None = None,
    ) -> None:
        base_url = (base_url or "").strip().rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise DeskError(
                f"'{base_url}' is not a desk address; give one like https://desk.example.com.",
                detail=f"bad desk url {base_url!r}",
            )
        self.base_url = base_url
        self.timeout = timeout
        self._token = token
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = f"vxassist/{__version__}"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> DeskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send one request and return the JSON object the desk answered."""
        all_headers = {"Accept": "application/json"}
        if self._token:
            all_headers["Authorization"] = f"Bearer {self._token}"
        all_headers.update(headers or {})
        url = self.url(path)
        try:
            response = self._session.request(
                method,
                url,
                json=json,
                headers=all_headers,
                params=params,
                timeout=self.timeout if timeout is None else timeout,
            )
        except requests.Timeout as exc:
            raise DeskUnavailable(
                f"The desk at {self.base_url} did not answer in time; try again later.",
                detail=f"{method} {path}: {exc!r}",
            ) from exc
        except requests.RequestException as exc:
            raise DeskUnavailable(
                f"The desk at {self.base_url} cannot be reached; check the network "
                "and the desk address, then try again.",
                detail=f"{method} {path}: {exc!r}",
            ) from exc
        with response:
            return self._answer(method, path, response)

    def _answer(self, method: str, path: str, response: requests.Response) -> dict[str, Any]:
        status = response.status_code
        where = f"{method} {path} -> {status}"
        if status == 429 or status == 408 or status >= 500:
            code, message = _error_body(response)
            raise DeskUnavailable(
                f"The desk at {self.base_url} is busy or failing (HTTP {status}); try again later.",
                detail=f"{where} {code} {message}".strip(),
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if 400 <= status < 500:
            code, message = _error_body(response)
            if not message:
                message = (
                    f"The desk refused the request (HTTP {status}); "
                    "check the desk address and your enrollment."
                )
            if status == 401 and not code:
                code = "unauthorized"
            raise DeskRejected(message, detail=where, code=code, status=status)
        if status < 200 or status >= 300:
            raise DeskUnavailable(
                f"The desk at {self.base_url} gave an unexpected answer (HTTP {status}); "
                "try again later.",
                detail=where,
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise DeskUnavailable(
                f"The answer from {self.base_url} is not the desk's; check the desk "
                "address and try again later.",
                detail=f"{where}: not JSON: {response.text[:200]!r}",
            ) from exc
        if not isinstance(body, dict):
            raise DeskUnavailable(
                f"The answer from {self.base_url} is not the desk's; check the desk "
                "address and try again later.",
                detail=f"{where}: JSON is {type(body).__name__}, not an object",
            )
        return body

    # -- health and identity -------------------------------------------------

    def healthz(self, timeout: float | None = None) -> dict[str, Any]:
        return self.request("GET", f"{API}/healthz", timeout=timeout)

    def whoami(self) -> dict[str, Any]:
        return self.request("GET", f"{API}/whoami")

    def enroll(self, code: str, hostname: str, host_public_key: str | None) -> dict[str, Any]:
        body = {"code": code, "hostname": hostname, "host_public_key": host_public_key}
        return self.request("POST", f"{API}/enroll", json=body)

    # -- the agent's cases ---------------------------------------------------

    def create_case(
        self, payload: Mapping[str, Any], idempotency_key: str, timeout: float | None = None
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            f"{API}/cases",
            json=dict(payload),
            headers={"Idempotency-Key": idempotency_key},
            timeout=timeout,
        )

    def list_cases(self) -> list[dict[str, Any]]:
        return _cases(self.request("GET", f"{API}/cases"))

    def get_case(self, number: int) -> dict[str, Any]:
        return self.request("GET", f"{API}/cases/{int(number)}")

    def update_case(
        self,
        number: int,
        text: str,
        priority: int | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        system_report: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add ``text`` to a case; optionally a new priority and a fresh system report."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.request(
            "POST",
            f"{API}/cases/{int(number)}/updates",
            json=update_body(text, priority, system_report),
            headers=headers,
            timeout=timeout,
        )

    def escalate_case(self, number: int, to: str, reason: str) -> dict[str, Any]:
        return self.request(
            "POST", f"{API}/cases/{int(number)}/escalate", json={"to": to, "reason": reason}
        )

    # -- the engineer's cases ------------------------------------------------

    def engineer_cases(self, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else None
        return _cases(self.request("GET", f"{API}/engineer/cases", params=params))

    def engineer_set_status(self, number: int, status: str, note: str | None) -> dict[str, Any]:
        return self.request(
            "POST",
            f"{API}/engineer/cases/{int(number)}/status",
            json={"status": status, "note": note},
        )

    def engineer_queue(self, **filters: str | int | bool | None) -> list[dict[str, Any]]:
        """The queue with filters (status, priority, company, assignee, escalated, breached)."""
        params = {
            name: (str(value).lower() if isinstance(value, bool) else str(value))
            for name, value in filters.items()
            if value is not None
        }
        return _cases(self.request("GET", f"{API}/engineer/cases", params=params or None))

    def engineer_post(self, number: int, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """One change to a case (``replies``, ``notes``, ``calls``, ``assign``, ``escalations``);
        the desk answers the case with its thread."""
        return self.request("POST", f"{API}/engineer/cases/{int(number)}/{action}", json=dict(body))

    def engineer_close_escalation(
        self, number: int, escalation_id: int, note: str | None
    ) -> dict[str, Any]:
        return self.request(
            "POST",
            f"{API}/engineer/cases/{int(number)}/escalations/{int(escalation_id)}/close",
            json={"note": note},
        )

    def engineer_attachment(self, number: int, attachment_id: int) -> bytes:
        """A file attached to a case, as the desk keeps it (secrets removed)."""
        path = f"{API}/engineer/cases/{int(number)}/attachments/{int(attachment_id)}"
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            response = self._session.get(self.url(path), headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DeskUnavailable(
                f"The desk at {self.base_url} cannot be reached; check the network "
                "and the desk address, then try again.",
                detail=f"GET {path}: {exc!r}",
            ) from exc
        with response:
            if response.status_code != 200:
                self._answer("GET", path, response)  # raises with the desk's sentence
                raise DeskUnavailable(
                    f"The desk at {self.base_url} gave an unexpected answer; try again later.",
                    detail=f"GET {path} -> {response.status_code}",
                )
            return response.content

    def case_changes(self, since: int) -> dict[str, Any]:
        """Which of this host's cases moved since the cursor ``since``: ``{cursor, cases}``."""
        return self.request("GET", f"{API}/cases/changes", params={"since": str(int(since))})


def update_body(
    text: str,
    priority: int | None,
    system_report: Mapping[str, Any] | None = None,
    logs: Sequence[tuple[str, bytes]] = (),
) -> dict[str, Any]:
    """The body of a case update; ``system_report`` and ``logs`` (name, bytes) only
    when there are some."""
    body: dict[str, Any] = {"text": text, "priority": priority}
    if system_report is not None:
        body["system_report"] = dict(system_report)
    if logs:
        body["attachments"] = [
            {"filename": name, "content_base64": base64.b64encode(data).decode("ascii")}
            for name, data in logs
        ]
    return body


def _cases(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    cases = body.get("cases")
    if not isinstance(cases, list):
        raise DeskUnavailable(
            "The desk's answer has no case list; try again later.",
            detail=f"keys {sorted(body)}",
        )
    return [c for c in cases if isinstance(c, dict)]


def quote_path(part: str) -> str:
    """One path segment, escaped (for ids that come from elsewhere)."""
    return quote(part, safe="")
