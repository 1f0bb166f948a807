"""The relay's sshd configuration: one template, rendered wherever a relay runs.

The relay is a stock OpenSSH sshd hardened by ``sshd_config`` (next to this
file). ``render`` fills it in for a machine (``vxassist desk relay-config``, which
``installer/relay/install.sh`` runs); ``render_local`` makes the same hardening
run from a private folder on a loopback port (the demo, the benchmark and the
tests), so what is tested and demonstrated is what operators install.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from vxassist.errors import VxError

TEMPLATE = Path(__file__).resolve().with_name("sshd_config")
AGENT_ACCOUNT = "vxagent"
ENGINEER_ACCOUNT = "vxeng"
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")


class RelayConfigError(VxError):
    """A value cannot go into the relay's sshd configuration."""


def _check_filled(text: str) -> str:
    settings = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    left = _PLACEHOLDER.findall("\n".join(settings))
    if left:
        raise AssertionError(f"relay template placeholders left unfilled: {left}")
    return text


def render(
    *, desk_db_url: str, port: int, listen: str, etc: str, vxassist: str, relay: str = ""
) -> str:
    """The relay's sshd_config for a machine: the template with its placeholders filled.

    ``relay`` names this relay when the desk has several (``[[relays]]`` ``name``):
    its key lookup then answers only for hosts placed on it.
    """
    if relay and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", relay):
        raise RelayConfigError("A relay name is 1-64 letters, digits, '-' or '_'.")
    for name, value in (("desk database URL", desk_db_url), ("vxassist path", vxassist)):
        if not value or any(c in value for c in " \t\n%"):
            raise RelayConfigError(
                f"The {name} must be given without spaces or '%' (sshd would split or expand "
                "it there); choose one without them.",
            )
    if not 0 < port < 65536:
        raise RelayConfigError("The relay port must be between 1 and 65535.")
    values = {
        "@DESK_DB_URL@": desk_db_url,
        "@VXASSIST@": vxassist,
        "@PORT@": str(port),
        "@LISTEN@": listen,
        "@ETC@": etc.rstrip("/"),
    }
    # every placeholder is one of these (an unknown one is a KeyError)
    text = _PLACEHOLDER.sub(lambda m: values[m.group(0)], TEMPLATE.read_text())
    if relay:
        text = text.replace(" desk relay-keys --db ", f" desk relay-keys --relay {relay} --db ")
    return text


def render_local(
    folder: Path,
    port: int,
    authorized_keys_command: Sequence[str] | None = None,
    host: str = "127.0.0.1",
) -> str:
    """The same hardening for a relay run by hand from ``folder`` on ``host:port``.

    Changed from the installed form only where a private folder needs it: host
    key and pid file in ``folder``, ``StrictModes no`` (keys under /tmp are not
    owned by the accounts), and keys from ``authorized_keys_command`` (e.g. the
    desk's ``relay-keys``) or else from ``folder/authorized_keys/USER``, read as
    root (the accounts cannot enter a private folder).
    """
    keys = (
        " ".join(authorized_keys_command)
        if authorized_keys_command
        else f"/bin/cat {folder / 'authorized_keys'}/%u"
    )
    shown = f"[{host}]" if ":" in host else host
    replaced = {
        "Port": None,
        "ListenAddress": f"ListenAddress {shown}:{port}",
        "HostKey": f"HostKey {folder / 'ssh_host_ed25519_key'}",
        "PidFile": f"PidFile {folder / 'sshd.pid'}",
        "AuthorizedKeysCommand": f"AuthorizedKeysCommand {keys}",
        "AuthorizedKeysCommandUser": "AuthorizedKeysCommandUser root",
    }
    out = ["StrictModes no"]
    for line in TEMPLATE.read_text().splitlines():
        key = line.split(" ", 1)[0]
        if key in replaced:
            if replaced[key] is None:
                continue
            line = str(replaced[key])
        out.append(line)
    return _check_filled("\n".join(out) + "\n")
