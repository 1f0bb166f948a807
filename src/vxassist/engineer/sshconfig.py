"""The ssh config and known_hosts an engineer's stock OpenSSH client needs for one session.

``ssh -J`` passes only a few options to the jump hop (not ``-i`` or ``-o``), so
everything goes into a config file used with ``-F``; ``sftp -F``, ``scp -F``,
``ssh -L`` and IDEs' remote-SSH read the same file. Two hops:

- ``vx-relay-ID``: the relay, as user ``vxeng``, with the plain session key (the
  relay's ``relay-keys`` knows it); the relay is pinned by its own host key.
- ``vx-session-ID``: the agent, reached through the relay's loopback port, with
  the session certificate; the agent is pinned by ``HostKeyAlias vx-<agent id>``
  and an ``@cert-authority vx-*`` line for the vendor's host CA, because every
  agent shares the relay's address and its port changes.

Pure: text in, text out. The certificate is kept under a name ssh does not pick
up by itself (not ``KEY-cert.pub``), so the relay hop never sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vxassist.errors import VxError

RELAY_ALIAS = "relay.vxassist"
_KEY_TYPES = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp\d+|sk-\S+)$")
_SAFE = re.compile(r"^[A-Za-z0-9._:\[\]-]+$")


class SshConfigError(VxError):
    """The desk's answer lacks what an ssh config needs."""


@dataclass(frozen=True)
class SessionEndpoint:
    """Everything the two hops need, from the desk's Session answer and local files."""

    session_id: str
    relay_host: str
    relay_port: int
    relay_user: str
    relay_known_hosts: str  # the relay's host key line(s)
    listen_port: int
    host_alias: str  # vx-<agent id>
    host_ca_public_key: str
    identity_file: Path
    certificate_file: Path
    known_hosts_file: Path

    @property
    def session_host(self) -> str:
        return f"vx-session-{self.session_id}"

    @property
    def relay_host_alias(self) -> str:
        return f"vx-relay-{self.session_id}"


def _key_pairs(text: str) -> list[str]:
    """``TYPE BASE64`` of every key in ``text`` (known_hosts lines or bare key lines)."""
    keys = []
    for line in text.splitlines():
        fields = line.split()
        for i, word in enumerate(fields[:-1]):
            if _KEY_TYPES.match(word):
                keys.append(f"{word} {fields[i + 1]}")
                break
    return keys


def _check(ep: SessionEndpoint) -> None:
    for what, value in (
        ("session id", ep.session_id),
        ("relay host", ep.relay_host),
        ("relay user", ep.relay_user),
        ("host alias", ep.host_alias),
    ):
        if not value or not _SAFE.match(value):
            raise SshConfigError(
                f"The desk sent an unusable {what}; ask the desk's operator to check it.",
                detail=repr(value),
            )
    for what, port in (("relay port", ep.relay_port), ("listen port", ep.listen_port)):
        if not 0 < port < 65536:
            raise SshConfigError(
                f"The desk sent an unusable {what}; ask the desk's operator to check it.",
                detail=repr(port),
            )


def known_hosts(ep: SessionEndpoint) -> str:
    """The known_hosts file: the vendor host CA for every agent, the relay's own key."""
    ca = _key_pairs(ep.host_ca_public_key)
    relay = _key_pairs(ep.relay_known_hosts)
    if not ca:
        raise SshConfigError(
            "The desk sent no host CA key, so the host cannot be verified; "
            "ask the desk's operator to check its CA.",
        )
    if not relay:
        raise SshConfigError(
            "The desk sent no host key for the relay, so the relay cannot be verified; "
            "ask the desk's operator to set relay.known_hosts.",
        )
    lines = [f"@cert-authority vx-* {k}" for k in ca]
    lines += [f"{RELAY_ALIAS} {k}" for k in relay]
    return "\n".join(lines) + "\n"


def _q(path: Path) -> str:
    """A path for the config: quoted (spaces), ``%`` doubled (ssh expands %-tokens)."""
    text = str(path)
    if '"' in text or "\n" in text:
        raise SshConfigError(
            "The session folder's path contains a quote or a line break; set VXASSIST_HOME "
            "to a plainer folder.",
            detail=repr(text),
        )
    return '"' + text.replace("%", "%%") + '"'


def ssh_config(ep: SessionEndpoint) -> str:
    """The ssh config with both hops; use ``ssh -F FILE vx-session-ID``."""
    _check(ep)
    common = [
        f"    IdentityFile {_q(ep.identity_file)}",
        "    IdentitiesOnly yes",
        f"    UserKnownHostsFile {_q(ep.known_hosts_file)}",
        "    GlobalKnownHostsFile /dev/null",
        "    StrictHostKeyChecking yes",
        "    UpdateHostKeys no",
        "    ForwardAgent no",
        "    ForwardX11 no",
        "    PermitLocalCommand no",
        "    ControlMaster no",
        "    ControlPath none",
        "    ServerAliveInterval 15",
    ]
    relay = [
        f"Host {ep.relay_host_alias}",
        f"    HostName {ep.relay_host}",
        f"    Port {ep.relay_port}",
        f"    User {ep.relay_user}",
        f"    HostKeyAlias {RELAY_ALIAS}",
        "    RequestTTY no",
        *common,
    ]
    agent = [
        f"Host {ep.session_host}",
        "    HostName 127.0.0.1",
        f"    Port {ep.listen_port}",
        f"    User {ep.session_id}",
        f"    HostKeyAlias {ep.host_alias}",
        f"    ProxyJump {ep.relay_host_alias}",
        f"    CertificateFile {_q(ep.certificate_file)}",
        *common,
    ]
    head = [
        f"# vxassist session {ep.session_id}: made by 'vxassist engineer connect'.",
        f"# ssh -F THIS_FILE {ep.session_host}   (sftp/scp -F and ssh -L work the same)",
    ]
    return "\n".join([*head, "", *agent, "", *relay]) + "\n"
