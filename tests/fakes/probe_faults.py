"""A probe wrapper that makes chosen questions hang or fail, for the bad-input tests."""

from __future__ import annotations

import threading
from typing import Any


class FaultyProbe:
    """Delegates to ``base`` except for the methods named in ``hang`` (block until
    ``release()``) and ``fail`` (raise the given exception)."""

    def __init__(
        self,
        base: Any,
        hang: set[str] | None = None,
        fail: dict[str, BaseException] | None = None,
    ) -> None:
        self._base = base
        self._hang = hang or set()
        self._fail = fail or {}
        self._released = threading.Event()
        self.hung: list[str] = []

    def release(self) -> None:
        self._released.set()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._base, name)
        if name in self._hang:

            def hanging(*args: Any, **kwargs: Any) -> Any:
                self.hung.append(name)
                self._released.wait(60)
                return target(*args, **kwargs)

            return hanging
        if name in self._fail:
            error = self._fail[name]

            def failing(*args: Any, **kwargs: Any) -> Any:
                raise error

            return failing
        return target
