"""What every command handler shares: paths, settings, secrets and output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vxassist.logs import setup_logging
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
        paths = Paths.from_env().ensure()
        ctx = cls(paths=paths, verbose=verbose)
        setup_logging(paths, "DEBUG" if verbose else ctx.settings.log_level)
        return ctx

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.paths)
        return self._settings

    def reload_settings(self) -> Settings:
        self._settings = None
        return self.settings

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
