"""Errors of the remote-session area, each with a sentence a user can act on."""

from __future__ import annotations

from vxassist.errors import VxError


class RemoteError(VxError):
    """Something in a remote session went wrong."""


class GrantError(RemoteError):
    """A grant cannot be made or used as asked."""


class PathEscape(RemoteError):
    """A file path lies outside the folders the session may reach."""


class TunnelError(RemoteError):
    """The outbound connection to the relay could not be made or kept."""


class AuditError(RemoteError):
    """The audit log cannot be read, written or exported."""


class HostKeyError(RemoteError):
    """The agent's host key cannot be created or read."""
