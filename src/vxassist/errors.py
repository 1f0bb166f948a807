"""The root of every error vxassist reports to a person.

Each area defines its own subclasses. ``message`` is one sentence a user can act
on; ``detail`` is for the log only and may name paths, hosts and causes.
"""

from __future__ import annotations


class VxError(Exception):
    """An error with a user-facing sentence and a log detail."""

    #: process exit code when this error ends a command
    exit_code: int = 1

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class ConfigError(VxError):
    """Settings or machine policy that cannot be read or used."""


class SecretsError(VxError):
    """The secret store (OS keyring) does not work."""


class UsageError(VxError):
    """A command was called with input it cannot use."""

    exit_code = 2
