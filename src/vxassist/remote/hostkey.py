"""The agent's SSH host key: made once, kept 0600 under ``Paths.keys_dir``.

The same key identifies the agent to the relay (as its client key) and to
engineers (as the embedded server's host key, with the host certificate the desk
signed at enrollment when there is one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import asyncssh

from vxassist.paths import Paths
from vxassist.remote.errors import HostKeyError

KEY_NAME = "host_ed25519"
CERT_NAME = "host_ed25519-cert.pub"


def host_key_path(paths: Paths) -> Path:
    return paths.keys_dir / KEY_NAME


def ensure_host_key(paths: Paths) -> str:
    """Create the ed25519 host key if missing; return its OpenSSH public key line."""
    path = host_key_path(paths)
    if not path.exists():
        try:
            paths.keys_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(paths.keys_dir, 0o700)
            key = asyncssh.generate_private_key("ssh-ed25519", comment="vxassist-agent")
            data = key.export_private_key("openssh")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError as exc:
            raise HostKeyError(
                f"The host key cannot be written under {paths.keys_dir}; check that folder.",
                detail=str(exc),
            ) from exc
    return public_key_line(load_host_key(paths))


def load_host_key(paths: Paths) -> asyncssh.SSHKey:
    """The private host key (create it first with :func:`ensure_host_key`)."""
    path = host_key_path(paths)
    try:
        return asyncssh.read_private_key(path)
    except FileNotFoundError as exc:
        raise HostKeyError(
            "This host has no key yet; run `vxassist enroll` first.", detail=str(path)
        ) from exc
    except (OSError, asyncssh.KeyImportError) as exc:
        raise HostKeyError(
            f"The host key {path} cannot be read; remove it and enroll again.",
            detail=str(exc),
        ) from exc


def public_key_line(key: asyncssh.SSHKey) -> str:
    return key.export_public_key("openssh").decode("ascii").strip()


def load_host_certificate(paths: Paths) -> asyncssh.SSHCertificate | None:
    """The host certificate signed at enrollment: the ``-cert.pub`` file, else enrollment.json."""
    text = ""
    cert_file = paths.keys_dir / CERT_NAME
    if cert_file.exists():
        text = cert_file.read_text(encoding="ascii").strip()
    else:
        enrollment = paths.data_dir / "enrollment.json"
        if enrollment.exists():
            try:
                text = str(json.loads(enrollment.read_text("utf-8")).get("host_certificate") or "")
            except (OSError, ValueError, AttributeError) as exc:
                raise HostKeyError(
                    f"{enrollment} cannot be read; enroll this host again.", detail=str(exc)
                ) from exc
    if not text:
        return None
    try:
        return asyncssh.import_certificate(text)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise HostKeyError(
            "The host certificate from enrollment is damaged; enroll this host again.",
            detail=str(exc),
        ) from exc
