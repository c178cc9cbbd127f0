"""How many connections each listener of a facade process holds: a share of the process's
open-files limit (RLIMIT_NOFILE), with room left for what else needs descriptors (the decision
channel, log and metrics files, the listeners themselves), so that idle connections can never
leave a webhook unanswered for want of a descriptor; and which client address a connection
counts against."""

from __future__ import annotations

import ipaddress
import logging
import resource
from dataclasses import dataclass

from facade.config import FacadeSettings
from facade.network import Network, parse_networks

log = logging.getLogger("facade.connections")

# Descriptors kept for everything but client connections: the decision channel's sockets and
# its poller, stderr, the metrics files of multiprocess mode, the listeners, what Python and
# gRPC open for themselves. A facade at rest holds about 20.
RESERVED = 128
# The webhook's cap when the limit is large: an idle connection costs about 9.4 KB, so 4,096 of
# them about 40 MB, well inside the manifests' 256 MiB (20,000 took RSS from 54 to 244 MB).
DEFAULT_WEBHOOK_CAP = 4096


@dataclass(frozen=True)
class ConnectionBudget:
    """Connections each listener holds at once, and how many of them one address may hold."""

    webhook: int
    webhook_per_address: int
    console: int
    console_per_address: int
    open_files: int  # the soft limit the budget was made for


def reserved(open_files: int) -> int:
    # A quarter of a small limit (a test's 256), RESERVED of any usual one.
    return min(RESERVED, open_files // 4)


def connection_budget(settings: FacadeSettings, open_files: int) -> ConnectionBudget:
    """The caps for a process whose soft open-files limit is `open_files`. A cap set to 0 is
    derived: the console's own share comes off the webhook's, so the console's listener can
    never take the webhook's descriptors; an address may hold half of a listener's cap."""
    console = settings.admin_max_connections if settings.admin_listen else 0
    webhook = settings.max_connections or max(
        1, min(DEFAULT_WEBHOOK_CAP, open_files - reserved(open_files) - console)
    )
    return ConnectionBudget(
        webhook=webhook,
        webhook_per_address=settings.max_connections_per_address or max(1, webhook // 2),
        console=console,
        console_per_address=max(1, console // 2),
        open_files=open_files,
    )


def descriptors_needed(settings: FacadeSettings) -> int:
    """The open-files limit under which the derived caps are the defaults in full."""
    console = settings.admin_max_connections if settings.admin_listen else 0
    return (settings.max_connections or DEFAULT_WEBHOOK_CAP) + console + RESERVED


def raise_open_files_limit(settings: FacadeSettings) -> int:
    """Raises the soft open-files limit towards what the caps need, as far as the hard limit
    lets an unprivileged process (systemd's and many shells' soft 1024 usually sits under a
    hard limit far above it); returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = descriptors_needed(settings)
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError) as error:
            log.warning("cannot raise the open-files limit from %d: %s", soft, error)
    return soft


def current_open_files_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def log_budget(budget: ConnectionBudget) -> None:
    """One line at start saying what holds; a warning when an explicit cap does not fit."""
    log.info(
        "connections: at most %d on the webhook (%d per address), %d on the console; "
        "open-files limit %d",
        budget.webhook,
        budget.webhook_per_address,
        budget.console,
        budget.open_files,
        extra={"max_connections": budget.webhook, "open_files": budget.open_files},
    )
    room = budget.open_files - reserved(budget.open_files) - budget.console
    if budget.webhook > room:
        log.warning(
            "--max-connections %d is more than the open-files limit %d leaves room for (%d): "
            "accepting pauses whenever descriptors run out; raise `ulimit -n` (nofile)",
            budget.webhook,
            budget.open_files,
            room,
        )


class AddressKeys:
    """The address a connection counts against: the peer's IPv4 address, or its IPv6 /64 (a
    single host usually holds a whole /64, so one IPv6 address each would be no limit at
    all). Trusted proxies count against nothing: every client behind them shares their
    address."""

    def __init__(self, trusted_proxies: tuple[str, ...] = ()) -> None:
        self.trusted: tuple[Network, ...] = parse_networks(trusted_proxies, "--trusted-proxies")

    def key(self, host: str) -> str | None:
        """None: not limited per address (a trusted proxy)."""
        if ":" not in host and not self.trusted:
            return host  # IPv4, the usual case: no parsing
        ip = _ip(host)
        if ip is None:
            return host
        if any(ip in network for network in self.trusted):
            return None
        return _counted(ip)


def client_key(host: str) -> str:
    """What a client address counts as, wherever the facade counts per client (connections,
    failed authentications): an IPv4 address as it is, an IPv4-mapped IPv6 one as IPv4, any
    other IPv6 address its /64."""
    if ":" not in host:
        return host
    ip = _ip(host)
    return host if ip is None else _counted(ip)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def _counted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
