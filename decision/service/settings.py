"""The decision service's settings: flags, DECISION_* variables and an optional TOML file."""

from __future__ import annotations

from dataclasses import dataclass

from plumbing.settings import setting


@dataclass(frozen=True)
class DecisionSettings:
    listen: str = setting("127.0.0.1:50051", "gRPC address, host:port (port 0: any free port)")
    facade_listen: str = setting(
        "",
        "a second gRPC address for the facades alone, with capacity of its own (connections, "
        "calls, health watches, the console's place): nothing a client of --listen holds keeps "
        "a facade out; fence its port so only the facades reach it (empty: none)",
    )
    facade_max_connections: int = setting(
        256,
        "connections the facades' listener holds (each facade process keeps one per decision "
        "replica; probes take one briefly); past it a new one is closed",
    )
    rules: str = setting("examples/rules.toml", "rules file (TOML), watched for changes")
    contacts: str = setting(
        "", "contact directory: a SQLite file or a postgresql:// URL (empty: no directory)"
    )
    contacts_timeout_ms: int = setting(
        100, "deadline of one contact lookup; past it the caller is treated as unknown"
    )
    watch_interval: float = setting(1.0, "seconds between checks of the rules file")
    rules_settle: float = setting(
        1.0, "seconds a changed rules file must stay unchanged before it is loaded"
    )
    max_concurrent_calls: int = setting(
        1_000,
        "Decide and LookupContact calls in progress at once; one more is refused with "
        "RESOURCE_EXHAUSTED (health, reflection and console calls have budgets of their own)",
    )
    max_connections: int = setting(
        0,
        "gRPC connections at once; past it a new one is closed (0: what the open-files limit "
        "leaves after 128, at most 1000)",
    )
    max_connection_age: str = setting(
        "30m",
        "every gRPC connection is closed after this (GOAWAY, then 30 s for its calls): what a "
        "client never reads goes with it (empty: never)",
    )
    call_backlog: int = setting(
        100_000, "calls arrived but not yet taken up that gRPC may queue (beyond: CANCELLED)"
    )
    grace: float = setting(5.0, "seconds in-flight calls get to finish on SIGTERM")
    metrics_listen: str = setting("", "host:port for Prometheus metrics over HTTP (empty: off)")
    tls_cert: str = setting("", "PEM certificate chain: serve gRPC over TLS")
    tls_key: str = setting("", "PEM private key for --tls-cert")
    tls_client_ca: str = setting("", "PEM CA for client certificates: require them (mTLS)")
    decision_log: str = setting("", "write every decision as JSON lines to this file ('-': stdout)")
    decision_log_buffer: int = setting(10_000, "decisions the log may hold before it drops")
    decision_log_buffer_bytes: int = setting(
        32 * 1024 * 1024, "memory in bytes the log's waiting decisions may hold before it drops"
    )
    log_full_numbers: bool = setting(False, "log whole phone numbers (default: last 4 digits)")
    access_log: bool = setting(True, "one JSON line per decision on stderr")
    genesys_snapshot: str = setting(
        "",
        "where the service keeps its own pulls of the org snapshot (a writable file; read "
        "instead of the one the rules name once it exists); empty: the one the rules name",
    )
    genesys_refresh: str = setting(
        "",
        "pull the org snapshot the rules name this often, e.g. 15m (empty: never); credentials "
        "from GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET(_FILE), GENESYS_REGION",
    )
    genesys_live: bool = setting(
        False,
        "poll the live Genesys state the rules read (queue_load, agents_on_queue_only) in the "
        "background; credentials as for --genesys-refresh",
    )
    genesys_poll_interval: float = setting(10.0, "seconds between polls of the live state (>= 1)")
    genesys_stale_after: float = setting(
        0.0, "seconds after which live state counts as unknown (0: 3 x the poll interval)"
    )
    genesys_live_budget: float = setting(
        20.0,
        "Genesys requests a minute this replica's live polls may make (the org's limit is 300 "
        "per token): a poll that needs more is made less often",
    )
