"""The facade's Prometheus metrics (served on GET /metrics)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

REQUESTS = Counter("facade_requests_total", "Webhook requests answered, by HTTP status", ["status"])
_REQUESTS_BY_STATUS: dict[int, Any] = {}


def requests_answered(status: int) -> Any:
    """REQUESTS' child for `status`, looked up once per status: `labels()` formats its key and
    takes a lock on every call (about 1 us a request)."""
    child = _REQUESTS_BY_STATUS.get(status)
    if child is None:
        child = _REQUESTS_BY_STATUS[status] = REQUESTS.labels(str(status))
    return child


ANSWER_SECONDS = Histogram(
    "facade_answer_seconds", "Time from request to answer on the webhook", buckets=LATENCY_BUCKETS
)
DECISION_SECONDS = Histogram(
    "facade_decision_seconds", "gRPC Decide latency seen by the facade", buckets=LATENCY_BUCKETS
)
FAIL_OPEN = Counter(
    "facade_fail_open_total", "Answers {} given because no decision came", ["reason"]
)
REFUSALS = Counter("facade_refusals_total", "Requests refused before any decision", ["reason"])
DROPPED_FIELDS = Counter(
    "facade_answer_fields_dropped_total",
    "Answer fields dropped for breaking Genesys rules",
    ["field"],
)
OPEN_CONNECTIONS = Gauge(
    "facade_connections",
    "Client connections held, by listener (webhook, console)",
    ["listener"],
    multiprocess_mode="livesum",
)
CONNECTIONS_REFUSED = Counter(
    "facade_connections_refused_total",
    "Connections closed unanswered at the listener's cap (connection_cap): every held one "
    "carried a request with a valid key",
    ["listener", "reason"],
)
CONNECTIONS_EVICTED = Counter(
    "facade_connections_evicted_total",
    "Connections closed at a cap to make room for a new one: silent (no request head yet), "
    "unkeyed (a request without a valid key: refused, or to another path than the webhook's), "
    "unsent (its answer not read by the client) or idle (keep-alive, between requests)",
    ["listener", "reason"],
)
CONNECTIONS_OVER_ADDRESS_CAP = Counter(
    "facade_connections_over_address_cap_total",
    "Connections held past the per-address cap: that address's others had all carried a valid "
    "key or were too young to close (the listener's cap decided)",
    ["listener"],
)
ACCEPT_PAUSES = Counter(
    "facade_accept_pauses_total",
    "Times accepting paused because the process ran out of descriptors (or the like)",
    ["listener"],
)
# Pushed by the decision service's Health.Watch stream (facade/decision_health.py): a scrape reads
# a number, never asks the service. Workers of one facade (--processes) report the lowest value:
# any worker that has lost the service shows.
DECISION_SERVING = Gauge(
    "facade_decision_serving",
    "1 while the decision service reports SERVING to this facade, else 0 (answers fail open)",
    multiprocess_mode="min",
)
