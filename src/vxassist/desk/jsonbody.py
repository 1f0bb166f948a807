"""Strict JSON bodies: what Python's ``json`` takes but the desk must not.

Python's parser accepts ``NaN``, ``Infinity`` and ``1e400`` (as infinity),
unpaired UTF-16 surrogates (``"\\ud800"``, which no database can store as
UTF-8), and nesting as deep as its recursion limit. ``JsonGuard`` checks every
JSON request body before the routes see it: a body that is not JSON is a 400,
and such a value anywhere in it is a 422 whose ``loc`` names the field, in the
shape of the desk's other validation answers.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: deeper than any system report the agent writes (about ten levels)
MAX_DEPTH = 64

Path = tuple[str | int, ...]


class _Refused:
    """A number the desk refuses, kept in place so the walk can name its field."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _Refused(text)


def _bad_text(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class BodyProblem(ValueError):
    """A value the desk refuses, with the path of its field in the body."""

    def __init__(self, path: Path, kind: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.kind = kind
        self.message = message


def check(value: Any) -> None:
    """Raise ``BodyProblem`` for the first refused value (iteratively: no recursion)."""
    stack: list[tuple[Path, Any]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if len(path) > MAX_DEPTH:
            raise _too_deep(path[: MAX_DEPTH + 1])
        if isinstance(item, dict):
            for key, inner in item.items():
                if _bad_text(key):
                    raise _surrogate(path)
                stack.append(((*path, key), inner))
        elif isinstance(item, list):
            stack.extend(((*path, index), inner) for index, inner in enumerate(item))
        elif isinstance(item, str):
            if _bad_text(item):
                raise _surrogate(path)
        elif isinstance(item, _Refused):
            raise BodyProblem(
                path,
                "finite_number",
                f"{item.text} is not a number the desk can store; send a finite number.",
            )


def _surrogate(path: Path) -> BodyProblem:
    return BodyProblem(
        path,
        "string_unicode",
        "The text holds an unpaired surrogate (\\ud800-\\udfff), which is not Unicode text; "
        "send valid text.",
    )


def _too_deep(path: Path) -> BodyProblem:
    return BodyProblem(
        path,
        "too_deep",
        f"The value is nested too deep (more than {MAX_DEPTH} levels); send a flatter value.",
    )


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def _deep_path(text: str) -> Path:
    """Where the nesting of ``text`` passes ``MAX_DEPTH`` (for bodies too deep to parse)."""
    path: list[str | int] = []
    containers: list[str] = []
    items: list[int] = []  # per open array: the index of the item being read
    key = ""
    for match in _TOKENS.finditer(text):
        token = match.group(0)
        if token.startswith('"'):
            key = _string(token)
        elif token in "[{":
            if containers:
                path.append(key if containers[-1] == "{" else items[-1])
            containers.append(token)
            items.append(0)
            if len(containers) > MAX_DEPTH + 1:
                break
        elif token == ",":
            if items:
                items[-1] += 1
        elif token in "]}":
            if containers:
                containers.pop()
                items.pop()
            if path:
                path.pop()
    return tuple(path)


def _string(token: str) -> str:
    try:
        return str(json.loads(token))
    except ValueError:
        return token[1:-1]


#: a lone surrogate can only arrive as an escape (UTF-8 cannot carry one)
_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
_CONTAINERS = (dict, list)


def _nested_within(value: Any, limit: int) -> bool:
    """Whether ``value`` nests at most ``limit`` levels (containers only, level by level)."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        if depth >= limit:
            return False
        depth += 1
        inner: list[Any] = []
        for item in level:
            values = item.values() if type(item) is dict else item
            inner += [v for v in values if type(v) in _CONTAINERS]
        level = inner
    return True


def parse(raw: bytes) -> Any:
    """The body as JSON; ``ValueError`` if it is not JSON, ``BodyProblem`` for a refused value.

    The common body holds none of them, which the parser's hooks (called only for
    constants and fractions), one scan for surrogate escapes and a walk over the
    containers show; only a suspect body is walked value by value, to name the field.
    """
    text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    refused: list[_Refused] = []

    def constant(name: str) -> _Refused:
        refused.append(_Refused(name))
        return refused[-1]

    def fraction(number: str) -> Any:
        value = _float(number)
        if isinstance(value, _Refused):
            refused.append(value)
        return value

    try:
        value = json.loads(text, parse_constant=constant, parse_float=fraction)
    except RecursionError:
        raise _too_deep(_deep_path(text)) from None
    except ValueError as exc:
        if "digits" in str(exc):  # an integer longer than Python converts
            raise BodyProblem(
                (), "finite_number", "A number is too long to store; send a shorter number."
            ) from None
        raise
    if refused or _MAYBE_SURROGATE.search(text) or not _nested_within(value, MAX_DEPTH):
        check(value)
    return value


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media: bytes = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


def problem_answer(problem: BodyProblem) -> JSONResponse:
    """A 422 in the shape of every validation answer of the desk."""
    return JSONResponse(
        {
            "detail": [
                {
                    "type": problem.kind,
                    "loc": ["body", *problem.path],
                    "msg": problem.message,
                    "input": None,
                }
            ]
        },
        status_code=422,
    )


def not_json_answer() -> JSONResponse:
    return JSONResponse(
        {
            "detail": {
                "code": "body_not_json",
                "message": "The request body is not JSON; send a JSON object in UTF-8.",
            }
        },
        status_code=400,
    )


class JsonGuard:
    """Check JSON request bodies (see the module's text), then hand them on unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(parts)
        if raw.strip():
            try:
                parse(raw)
            except BodyProblem as problem:
                await problem_answer(problem)(scope, receive, send)
                return
            except ValueError:
                await not_json_answer()(scope, receive, send)
                return
        whole: Message = {"type": "http.request", "body": raw, "more_body": False}
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return whole

        await self.app(scope, replay, send)
