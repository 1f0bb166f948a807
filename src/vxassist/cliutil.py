"""What every command handler shares: paths, settings, secrets and output."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vxassist.logs import setup_logging, setup_stderr_logging
from vxassist.paths import Paths
from vxassist.settings import Settings, load_settings

if TYPE_CHECKING:
    from vxassist.secrets import SecretStore


@dataclass
class Context:
    paths: Paths
    verbose: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    @classmethod
    def create(cls, verbose: bool = False) -> Context:
        paths = Paths.from_env()
        ctx = cls(paths=paths, verbose=verbose)
        level = "DEBUG" if verbose else ctx.settings.log_level
        try:
            paths.ensure()
            setup_logging(paths, level)
        except OSError as exc:
            # A service account with no writable home (the relay's key lookup) still
            # runs read-only commands; its log goes to stderr instead.
            setup_stderr_logging(level)
            logging.getLogger(__name__).debug("no log file: %s", exc)
        return ctx

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.paths)
        return self._settings

    def reload_settings(self) -> Settings:
        """Read the settings again; readers on other threads see the old or the new, whole."""
        self._settings = load_settings(self.paths)
        return self._settings

    def secrets(self) -> SecretStore:
        # keyring costs ~100 ms to import; only commands that need a secret pay it
        from vxassist.secrets import open_secret_store

        return open_secret_store(self.paths, self.settings.secrets_backend)


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def emit(data: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    """Print ``data`` as JSON, or as the text ``human`` makes of it."""
    if as_json:
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        text = human(data)
        if text:
            print(text)
