"""The newest agent version the desk knows of, told to agents (``[updates]`` in desk.toml).

The desk only tells: an agent shows the notice, and the customer's administrator
installs the new version. ::

    [updates]
    latest_version = "0.2.0"
    download_url = "https://downloads.example.com/vxassist/0.2.0/"
    notes = "Fixes the tray icon on high-DPI screens."

The notice travels in the answer to enrollment and to ``GET /api/v1/whoami``
as ``updates: {latest_version, download_url, notes}``; a desk with no
``latest_version`` sends no ``updates`` key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from vxassist.errors import ConfigError


@dataclass(frozen=True)
class ReleaseNotice:
    """What the desk says about the latest agent version; empty when it says nothing."""

    latest_version: str = ""
    download_url: str = ""
    notes: str = ""

    def answer(self) -> dict[str, str] | None:
        """The ``updates`` value of the desk's answers, or None when there is no notice."""
        if not self.latest_version:
            return None
        return {
            "latest_version": self.latest_version,
            "download_url": self.download_url,
            "notes": self.notes,
        }


def release_notice_from_mapping(data: Any, where: Path) -> ReleaseNotice:
    """The ``[updates]`` table of desk.toml, with a sentence for a bad value."""
    if data is None:
        return ReleaseNotice()
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"[updates] in {where} must be a table with latest_version, download_url and "
            "notes; fix the file and try again.",
            detail=f"updates is {type(data).__name__}",
        )
    unknown = sorted(set(data) - {"latest_version", "download_url", "notes"})
    if unknown:
        raise ConfigError(
            f"[updates] in {where} has unknown keys {', '.join(unknown)}; it takes "
            "latest_version, download_url and notes.",
            detail=f"unknown keys {unknown}",
        )
    notice = ReleaseNotice(
        latest_version=str(data.get("latest_version", "")).strip(),
        download_url=str(data.get("download_url", "")).strip(),
        notes=str(data.get("notes", "")).strip(),
    )
    if notice.download_url and not notice.download_url.startswith(("https://", "http://")):
        raise ConfigError(
            f"updates.download_url in {where} must be an http(s) address; fix the file "
            "and try again.",
            detail=f"download_url {notice.download_url!r}",
        )
    return notice


def enrollment_extra(notice: ReleaseNotice) -> Any:
    """An enrollment extra (see routes/enroll.py) adding ``updates`` to the answer."""

    def extra(_session: Any, _agent: Any, _at: datetime) -> Mapping[str, Any]:
        answer = notice.answer()
        return {"updates": answer} if answer else {}

    return extra
