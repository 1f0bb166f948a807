"""Secrets (desk token, key passphrase) in the OS keyring.

keyring enters the project here and nowhere else. When no keyring backend works
(a headless machine picks ``fail.Keyring``; a locked keyring refuses), the user
gets a sentence that says what to do: unlock or install a keyring, or choose the
documented alternative ``secrets_backend = "file"`` in settings.toml, which
keeps secrets in a file only this account can read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

import keyring
import keyring.errors

from vxassist.errors import SecretsError
from vxassist.paths import Paths

SERVICE = "vxassist"

_NO_KEYRING = (
    "No working keyring was found to keep vxassist's secrets. Unlock or install one "
    '(for example gnome-keyring), or add secrets_backend = "file" to {settings} to keep '
    "them in a file only your account can read."
)


class SecretStore(Protocol):
    def get(self, name: str) -> str | None: ...
    def set(self, name: str, value: str) -> None: ...
    def delete(self, name: str) -> None: ...


class KeyringSecretStore:
    """The OS keyring, with every backend failure turned into a user sentence."""

    def __init__(self, settings_file: Path, service: str = SERVICE) -> None:
        self._service = service
        self._settings_file = settings_file

    def _fail(self, exc: Exception) -> SecretsError:
        return SecretsError(_NO_KEYRING.format(settings=self._settings_file), detail=repr(exc))

    def get(self, name: str) -> str | None:
        try:
            return keyring.get_password(self._service, name)
        except keyring.errors.KeyringError as exc:
            raise self._fail(exc) from exc

    def set(self, name: str, value: str) -> None:
        try:
            keyring.set_password(self._service, name, value)
        except keyring.errors.KeyringError as exc:
            raise self._fail(exc) from exc

    def delete(self, name: str) -> None:
        try:
            keyring.delete_password(self._service, name)
        except keyring.errors.PasswordDeleteError:
            return
        except keyring.errors.KeyringError as exc:
            raise self._fail(exc) from exc


class FileSecretStore:
    """Secrets in a JSON file readable by this account only (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise SecretsError(
                f"The secrets file {self._path} cannot be read; remove it and enroll again.",
                detail=repr(exc),
            ) from exc
        return {str(k): str(v) for k, v in data.items()}

    def _save(self, data: dict[str, str]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        tmp.replace(self._path)

    def get(self, name: str) -> str | None:
        return self._load().get(name)

    def set(self, name: str, value: str) -> None:
        data = self._load()
        data[name] = value
        self._save(data)

    def delete(self, name: str) -> None:
        data = self._load()
        if data.pop(name, None) is not None:
            self._save(data)


def open_secret_store(paths: Paths, backend: str) -> SecretStore:
    """The store the settings choose (``keyring`` unless told ``file``)."""
    if backend == "file":
        return FileSecretStore(paths.data_dir / "secrets.json")
    return KeyringSecretStore(paths.settings_file)
