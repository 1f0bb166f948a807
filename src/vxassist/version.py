"""This agent's version, and whether the desk knows a newer one (``vxassist version``).

The desk names the newest agent version in its answer to ``whoami`` (``updates``,
set by its operator in desk.toml). The agent only says so: installing the new
version stays the act of the host's administrator, so nothing is downloaded.
The decision (``report_for``) is pure; ``ask_desk`` is the one call that reads
the enrollment and asks the desk, and it never fails: a desk that cannot be
asked is a line of the report, not an error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from vxassist import __version__
from vxassist.cliutil import Context, add_json_flag
from vxassist.errors import VxError
from vxassist.paths import Paths
from vxassist.settings import Settings

#: how long ``vxassist version`` waits for the desk
DESK_TIMEOUT_S = 5.0


class UpdateState(StrEnum):
    NEWER = "newer"  # the desk names a newer version
    CURRENT = "current"  # the desk names this version or an older one
    NO_NOTICE = "no-notice"  # the desk answered and names no version
    NOT_ENROLLED = "not-enrolled"
    UNKNOWN = "unknown"  # the desk could not be asked, or its version cannot be compared


@dataclass(frozen=True)
class UpdateNotice:
    """The desk's ``updates`` value: the newest version, where it comes from, what changed."""

    latest_version: str
    download_url: str = ""
    notes: str = ""

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> UpdateNotice | None:
        """The notice in a desk answer (whoami or enrollment), or None when it names none."""
        value = answer.get("updates")
        if not isinstance(value, Mapping):
            return None
        latest = str(value.get("latest_version") or "").strip()
        if not latest:
            return None
        return cls(
            latest_version=latest,
            download_url=str(value.get("download_url") or "").strip(),
            notes=str(value.get("notes") or "").strip(),
        )


@dataclass(frozen=True)
class VersionReport:
    """This version and what the desk said about newer ones, with the sentence to show."""

    version: str
    state: UpdateState
    sentence: str
    latest_version: str = ""
    download_url: str = ""
    notes: str = ""

    def to_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["state"] = str(self.state)
        return data


_VERSION = re.compile(
    r"^v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre>a|alpha|b|beta|c|rc|pre|preview)[-_.]?(?P<pre_n>\d*))?"
    r"(?:[-_.]?(?P<post>post|rev|r)[-_.]?(?P<post_n>\d*))?"
    r"(?:[-_.]?dev[-_.]?(?P<dev_n>\d*))?"
    r"(?:\+[a-z0-9.]+)?$",
    re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2, "pre": 2, "preview": 2}


def version_key(text: str) -> tuple[Any, ...] | None:
    """A sort key for a PEP 440-style version ("1.2", "1.2.0rc1", "1.2.post1"), or None."""
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    release = [int(part) for part in match["release"].split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()  # 1.2 == 1.2.0
    dev = match["dev_n"]
    if match["pre"]:
        pre: tuple[int, int] = (_PRE_RANK[match["pre"].lower()], int(match["pre_n"] or 0))
    elif dev is not None and not match["post"]:
        pre = (-1, 0)  # 1.2.dev1 comes before 1.2a1
    else:
        pre = (3, 0)  # the final release comes after its pre-releases
    post = int(match["post_n"] or 0) if match["post"] else -1
    dev_key = int(dev or 0) if dev is not None else sys.maxsize  # a dev build before its base
    return (tuple(release), pre, post, dev_key)


def report_for(current: str, notice: UpdateNotice | None) -> VersionReport:
    """Pure: what to say about ``current`` given the desk's notice (None: it names none)."""
    if notice is None:
        return VersionReport(
            current, UpdateState.NO_NOTICE, "up to date: the desk names no newer version."
        )
    latest = notice.latest_version
    fields = {
        "latest_version": latest,
        "download_url": notice.download_url,
        "notes": notice.notes,
    }
    mine, theirs = version_key(current), version_key(latest)
    if mine is None or theirs is None:
        return VersionReport(
            current,
            UpdateState.UNKNOWN,
            f"the desk names version {latest}, which cannot be compared with {current}; "
            "ask your administrator which one is newer.",
            **fields,
        )
    if theirs > mine:
        where = f" from {notice.download_url}" if notice.download_url else ""
        return VersionReport(
            current,
            UpdateState.NEWER,
            f"a newer version {latest} is available{where}; your administrator installs it.",
            **fields,
        )
    return VersionReport(
        current,
        UpdateState.CURRENT,
        f"up to date: the desk's latest version is {latest}.",
        **fields,
    )


def ask_desk(
    paths: Paths,
    settings: Settings,
    current: str = __version__,
    timeout_s: float = DESK_TIMEOUT_S,
) -> VersionReport:
    """Blocking: ask the enrolled desk (``whoami``) about newer versions; never raises VxError."""
    from vxassist.cases.enroll import read_enrollment
    from vxassist.cases.intake import TOKEN_SECRET
    from vxassist.deskclient import DeskClient
    from vxassist.secrets import open_secret_store

    try:
        enrolled = bool(read_enrollment(paths)) and bool(settings.desk_url)
        if not enrolled:
            return VersionReport(
                current,
                UpdateState.NOT_ENROLLED,
                "not enrolled: there is no desk to ask about newer versions.",
            )
        token = open_secret_store(paths, settings.secrets_backend).get(TOKEN_SECRET)
        with DeskClient(settings.desk_url, token, timeout=timeout_s) as client:
            answer = client.whoami()
    except VxError as exc:
        return VersionReport(
            current,
            UpdateState.UNKNOWN,
            f"whether a newer version exists is not known: {exc.message}",
        )
    return report_for(current, UpdateNotice.from_answer(answer))


def update_sentence(paths: Paths | None = None, settings: Settings | None = None) -> str:
    """The second line of ``vxassist --version``; a broken settings file is that line."""
    try:
        paths = paths or Paths.from_env()
        if settings is None:
            from vxassist.settings import load_settings

            settings = load_settings(paths)
        return ask_desk(paths, settings).sentence
    except VxError as exc:
        return f"whether a newer version exists is not known: {exc.message}"
    except Exception as exc:  # --version runs before the command line's own error handling
        return f"whether a newer version exists is not known ({type(exc).__name__})."


# -- the command ----------------------------------------------------------------


class VersionAction(argparse.Action):
    """``--version``: the same two lines as ``vxassist version``, then exit 0."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kw: Any):
        kw.setdefault("help", "show this version and whether the desk knows a newer one")
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kw: Any) -> None:
        print(f"vxassist {__version__}", flush=True)  # shown at once, before the desk answers
        print(update_sentence(), flush=True)
        parser.exit(0)


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``vxassist version``."""
    parser = sub.add_parser(
        "version",
        help="show this version and whether the desk knows a newer one",
        description="Print vxassist's version and, when this host is enrolled and the desk "
        "answers, whether the desk names a newer version and where it comes from. "
        "Installing it is the administrator's act: nothing is downloaded.",
    )
    add_json_flag(parser)
    parser.set_defaults(func=run_version)


def run_version(ctx: Context, args: argparse.Namespace) -> int:
    if not args.json:
        print(f"vxassist {__version__}", flush=True)  # shown at once, before the desk answers
    report = ask_desk(ctx.paths, ctx.settings)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(report.sentence)
    return 0
