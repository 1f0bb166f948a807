"""Errors the desk answers with: an HTTP status, a snake_case code, one sentence."""

from __future__ import annotations

from vxassist.errors import VxError


class DeskError(VxError):
    """A refusal the desk sends as ``{"detail": {"code": ..., "message": ...}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, detail)
        self.status = status
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str]]:
        return {"detail": {"code": self.code, "message": self.message}}


class DeskAdminError(VxError):
    """An admin command (``vxassist desk ...``) that cannot do what it was asked."""


class DeskDatabaseError(VxError):
    """The desk's database cannot be opened or upgraded."""
