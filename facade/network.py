"""Who is calling: the client address (through trusted proxies only) and the allow-list."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: Iterable[str], what: str) -> tuple[Network, ...]:
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{what}: {cidr!r} is not an address or CIDR network") from None
    return tuple(networks)


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


class ClientPolicy:
    """X-Forwarded-For is only believed from a trusted proxy, and then read from the right:
    the first address that is not itself a trusted proxy is the client. Anything a client
    writes into the header further left is ignored."""

    def __init__(self, allow: Iterable[str] = (), trusted_proxies: Iterable[str] = ()) -> None:
        self.allow = parse_networks(allow, "--allow-cidrs")
        self.trusted = parse_networks(trusted_proxies, "--trusted-proxies")

    def client_address(self, peer: str, forwarded_for: str | None) -> str:
        if not forwarded_for or not self.trusted or not _within(peer, self.trusted):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not _within(hop, self.trusted):
                return hop
        return hops[0] if hops else peer

    def allowed(self, address: str) -> bool:
        return not self.allow or _within(address, self.allow)
