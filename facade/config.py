"""The facade's settings: flags, FACADE_* variables and an optional TOML file (--config)."""

from __future__ import annotations

from dataclasses import dataclass

from plumbing.settings import setting


@dataclass(frozen=True)
class FacadeSettings:
    listen: str = setting("0.0.0.0:8080", "address to listen on, host:port (port 0: any free port)")
    processes: int = setting(1, "HTTP worker processes sharing the port")
    decision: str = setting(
        "127.0.0.1:50051",
        "decision service target: host:port, dns:///name:port or ipv4:h1:p1,h2:p2 (round robin)",
    )
    deadline_ms: int = setting(
        500,
        "answer {} (fail open) when no decision is made this long after the request arrived",
    )
    api_keys: tuple[str, ...] = setting(
        (), "API keys, comma-separated (several for rotation)", secret=True
    )
    api_keys_file: str = setting("", "file with one API key per line, re-read on SIGHUP")
    api_key_header: str = setting(
        "X-API-Key", "header carrying the key (Authorization: Bearer always works too)"
    )
    allow_cidrs: tuple[str, ...] = setting((), "client networks allowed to call (empty: any)")
    trusted_proxies: tuple[str, ...] = setting(
        (), "networks of reverse proxies whose X-Forwarded-For names the client"
    )
    auth_failure_rate: float = setting(
        1.0, "failed authentications per second allowed per client address (0: no limit)"
    )
    auth_failure_burst: int = setting(
        20, "failed authentications a client address may make at once above its rate"
    )
    max_in_flight: int = setting(512, "decisions in flight at once; beyond, answer {} at once")
    max_body: int = setting(64 * 1024, "largest accepted body in bytes (413 beyond)")
    max_header: int = setting(16 * 1024, "largest accepted request head in bytes")
    body_timeout: float = setting(10.0, "seconds a client gets to send its body")
    idle_timeout: float = setting(60.0, "seconds an idle keep-alive connection stays open")
    head_timeout: float = setting(
        10.0, "seconds a new connection gets to send its first request head"
    )
    max_connections: int = setting(
        0,
        "connections each process holds on the webhook's listener (0: from the open-files "
        "limit, at most 4096)",
    )
    max_connections_per_address: int = setting(
        0,
        "of those, connections one client address (IPv6: one /64) holds; trusted proxies are "
        "not limited (0: half of --max-connections)",
    )
    drain_seconds: float = setting(
        5.0,
        "seconds a stopping facade goes on answering (not ready, Connection: close) before it "
        "stops listening",
    )
    grace: float = setting(5.0, "seconds in-flight requests get to finish after the drain")
    schedule_horizon_days: int = setting(30, "furthest callbackScheduledTime let through, in days")
    tls_cert: str = setting("", "PEM certificate chain: serve HTTPS instead of HTTP")
    tls_key: str = setting("", "PEM private key for --tls-cert")
    decision_tls_ca: str = setting(
        "", "PEM CA that signed the decision service's certificate (enables TLS to it)"
    )
    decision_tls_cert: str = setting("", "PEM client certificate for mTLS to the decision service")
    decision_tls_key: str = setting("", "PEM private key for --decision-tls-cert")
    decision_tls_server_name: str = setting(
        "",
        "name to expect in the decision service's "
        "certificate, when it differs from the target host",
    )
    admin_listen: str = setting(
        "", "address of the operator console, host:port (empty: no console); never public"
    )
    admin_keys: tuple[str, ...] = setting(
        (), "console keys, comma-separated; never the webhook's keys", secret=True
    )
    admin_keys_file: str = setting("", "file with one console key per line, re-read on SIGHUP")
    admin_max_connections: int = setting(
        32, "connections each process holds on the console's listener (taken off the webhook's)"
    )
    log_full_numbers: bool = setting(False, "log whole phone numbers (default: last 4 digits)")
    access_log: bool = setting(True, "one JSON line per request on stderr")

    @property
    def deadline(self) -> float:
        return self.deadline_ms / 1000
