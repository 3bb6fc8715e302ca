"""Listings across several Docker daemons: `--host A --host B network ls|inspect`, `ps`.

Each daemon is asked by its own engine, all at once (an unreachable one costs
its probe timeout, not the sum of them). What one daemon holds, or why it could
not be asked, is a HostListing: a daemon that is down never hides the others.
Every network and container keeps its daemon's label (the --host value as given,
a URL or a Docker context name). No printing, no Textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ipvlan_tui.errors import EngineError, ValidationError
from ipvlan_tui.model import Endpoint, Network

FIELD = "--host"


@dataclass(frozen=True)
class HostListing:
    """The ipvlan networks (with their containers) of one daemon, or why it could not be listed."""

    host: str  # the --host value as given
    networks: tuple[Network, ...] = ()
    error: str = ""  # "" when the daemon answered

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def endpoints(self) -> list[Endpoint]:
        return [e for n in self.networks for e in n.endpoints]


def listing_hosts(host_values: Sequence[str], hosts_values: Sequence[str] = ()) -> list[str]:
    """`--host A --host B` and `--hosts A,B` as one list of daemons, each once."""
    split = [h.strip() for v in hosts_values for h in str(v).split(",")]
    if any(not h for h in split):
        raise ValidationError("--hosts", ",".join(hosts_values), "has an empty host name",
                              "list daemons separated by single commas, e.g. --hosts "
                              "unix:///run/a.sock,ssh://root@b")
    hosts = [str(h) for h in host_values] + split
    dupes = sorted({h for h in hosts if hosts.count(h) > 1})
    if dupes:
        raise ValidationError(FIELD, " ".join(hosts), f"names {', '.join(dupes)} more than once",
                              "give each Docker daemon once (with --host or in --hosts, not both)")
    return hosts


def _list_one(engine) -> HostListing:
    try:
        return HostListing(engine.host_label, tuple(engine.networks()))
    except EngineError as exc:  # unreachable, or the daemon refused to list: say so, go on
        return HostListing(engine.host_label, error=exc.message)


def list_hosts(engines: Sequence) -> list[HostListing]:
    """Each engine's networks, asked concurrently, in the order the engines were given."""
    if not engines:
        return []
    with ThreadPoolExecutor(max_workers=len(engines), thread_name_prefix="hostlisting") as pool:
        return list(pool.map(_list_one, engines))


def find_network(networks: Sequence[Network], name: str) -> Network | None:
    """A network by name, or by an ID prefix of 12 characters or more (as Docker takes it)."""
    for net in networks:
        if net.spec.name == name:
            return net
    if len(name) >= 12:
        for net in networks:
            if net.spec.network_id.startswith(name):
                return net
    return None


__all__ = ["HostListing", "listing_hosts", "list_hosts", "find_network", "FIELD"]
