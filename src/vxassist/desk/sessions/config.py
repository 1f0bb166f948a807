"""The broker's part of the desk configuration: the relays, the CA folder, timeouts.

In the desk's TOML file, one relay::

    [relay]
    host = "relay.example.com"        # what hosts and engineers connect to
    port = 22
    known_hosts = "ssh-ed25519 AAAA..."  # the relay's host key line(s)
    # known_hosts_file = "/etc/ssh/ssh_host_ed25519_key.pub"   (instead of the line)
    port_min = 20000                   # the loopback ports handed to hosts
    port_max = 29999

or several, each a ``[[relays]]`` table with the same keys plus a ``name``
(what ``vxassist desk relay-config --relay NAME`` and the relay installer name)::

    [[relays]]
    name = "relay-a"
    host = "relay-a.example.com"
    port = 2222
    known_hosts_file = "/etc/vxassist/relay-a.pub"

    [[relays]]
    name = "relay-b"
    host = "relay-b.example.com"
    port = 2222
    known_hosts_file = "/etc/vxassist/relay-b.pub"

A host is placed on one relay when it enrolls (the one with the fewest hosts) and
every session of that host goes through it: ``placement`` decides, nowhere else.
Ports handed to hosts are unique across all relays. The first relay is where
hosts placed before several relays existed stay.

    [sessions]
    request_timeout_s = 180            # a request nobody answers expires then
    poll_interval_s = 1.0              # pause before a lost LISTEN connection is made again
    max_wait_s = 600                   # longest long poll (a waiting poll costs nothing)
    ca_dir = "/var/lib/vxassist/desk-ca"   # default: desk-ca/ in the data folder
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vxassist.errors import ConfigError

DEFAULT_RELAY_NAME = "default"
#: relay names go into sshd's command line (``relay-keys --relay NAME``): plain words only
RELAY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class RelayConfig:
    #: the relay's name: what hosts' placements and the relay's ``relay-keys --relay`` name
    name: str = DEFAULT_RELAY_NAME
    host: str = "127.0.0.1"
    port: int = 22
    known_hosts: str = ""
    #: the relay's accounts; fixed, because relay-keys and the relay config name them
    agent_user: str = "vxagent"
    engineer_user: str = "vxeng"
    port_min: int = 20000
    port_max: int = 29999


@dataclass(frozen=True)
class SessionsConfig:
    #: the first relay (the only one, unless ``[[relays]]`` names more)
    relay: RelayConfig = field(default_factory=RelayConfig)
    #: every relay after the first, in the order of the file
    more_relays: tuple[RelayConfig, ...] = ()
    #: consent timeout on the host plus a margin
    request_timeout_s: int = 180
    poll_interval_s: float = 1.0
    #: longest long poll a client may ask for
    max_wait_s: float = 600.0
    ca_dir: Path | None = None

    @property
    def relays(self) -> tuple[RelayConfig, ...]:
        """Every relay the desk places hosts on, the first one first."""
        return (self.relay, *self.more_relays)


def _read_known_hosts(path: Path, where: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"relay.known_hosts_file in {where} cannot be read; check the path.",
            detail=str(exc),
        ) from exc


def _relay(relay: Mapping[str, Any], where: Path, name: str) -> RelayConfig:
    base = RelayConfig()
    known = str(relay.get("known_hosts", ""))
    if not known and relay.get("known_hosts_file"):
        known = _read_known_hosts(Path(str(relay["known_hosts_file"])), where)
    return RelayConfig(
        name=str(relay.get("name", name)),
        host=str(relay.get("host", base.host)),
        port=int(relay.get("port", base.port)),
        known_hosts=known,
        port_min=int(relay.get("port_min", base.port_min)),
        port_max=int(relay.get("port_max", base.port_max)),
    )


def sessions_config_from_mapping(data: Mapping[str, Any], where: Path) -> SessionsConfig:
    """``[relay]`` or ``[[relays]]``, and ``[sessions]``, with a sentence for a bad value."""
    sessions = data.get("sessions", {})
    if "relay" in data and "relays" in data:
        raise ConfigError(
            f"{where} has both [relay] and [[relays]]; keep one of them (put the relay of "
            "[relay] into [[relays]] with a name)."
        )
    try:
        if "relays" in data:
            tables = list(data["relays"])
            if not tables:
                raise ConfigError(f"[[relays]] in {where} is empty; name at least one relay.")
            relays = [_relay(t, where, f"relay-{i + 1}") for i, t in enumerate(tables)]
        else:
            relays = [_relay(data.get("relay", {}), where, DEFAULT_RELAY_NAME)]
        ca_dir = sessions.get("ca_dir")
        cfg = SessionsConfig(
            relay=relays[0],
            more_relays=tuple(relays[1:]),
            request_timeout_s=int(sessions.get("request_timeout_s", 180)),
            poll_interval_s=float(sessions.get("poll_interval_s", 1.0)),
            max_wait_s=float(sessions.get("max_wait_s", 600.0)),
            ca_dir=Path(str(ca_dir)) if ca_dir else None,
        )
    except (TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"The [relay], [[relays]] or [sessions] section of {where} has a value it cannot use.",
            detail=repr(exc),
        ) from exc
    for rc in relays:
        if not (0 < rc.port < 65536 and 0 < rc.port_min <= rc.port_max < 65536):
            raise ConfigError(f"The relay ports in {where} must lie between 1 and 65535.")
        if not RELAY_NAME.fullmatch(rc.name):
            raise ConfigError(
                f"Relay names in {where} are 1-64 letters, digits, '-' or '_'; fix {rc.name!r}."
            )
    if len({rc.name for rc in relays}) != len(relays):
        raise ConfigError(f"Two relays in {where} have the same name; give each its own.")
    if cfg.poll_interval_s <= 0 or cfg.request_timeout_s <= 0:
        raise ConfigError(f"The [sessions] times in {where} must be positive.")
    return cfg


def with_relay(cfg: SessionsConfig, host: str, port: int, known_hosts: str) -> SessionsConfig:
    """``cfg`` with the relay named on the command line (``--relay``, ``--relay-host-key``)."""
    from dataclasses import replace

    relay = replace(
        cfg.relay, host=host, port=port, known_hosts=known_hosts or cfg.relay.known_hosts
    )
    return replace(cfg, relay=relay)
