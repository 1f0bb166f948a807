"""Which relay a host is on: the one place that decides.

A host is placed on one relay when it enrolls, and every session of that host
is handed that relay (to the agent in its enrollment answer, to the engineer in
each Session object). Pure functions over the configuration and counts.
"""

from __future__ import annotations

from collections.abc import Mapping

from vxassist.desk.sessions.config import RelayConfig, SessionsConfig


class RelayGone(LookupError):
    """A host's relay is no longer in the desk's configuration."""


def choose_relay(
    cfg: SessionsConfig, hosts_per_relay: Mapping[str | None, int], previous: str | None = None
) -> RelayConfig:
    """The relay for a host enrolling now.

    A host enrolling again stays where it was while that relay is still configured
    (its tunnel and the engineers' habits stay put); otherwise the relay with the
    fewest hosts, the first in the file on a tie. Hosts counted under ``None``
    (placed before several relays existed) are on the first relay.
    """
    relays = cfg.relays
    for relay in relays:
        if previous is not None and relay.name == previous:
            return relay
    counts = {r.name: hosts_per_relay.get(r.name, 0) for r in relays}
    counts[relays[0].name] += hosts_per_relay.get(None, 0)
    return min(relays, key=lambda r: (counts[r.name], relays.index(r)))


def relay_of(cfg: SessionsConfig, name: str | None) -> RelayConfig:
    """The relay a host placed on ``name`` uses; :class:`RelayGone` if it is not configured."""
    if name is None:
        return cfg.relay
    for relay in cfg.relays:
        if relay.name == name:
            return relay
    raise RelayGone(name)
