"""The decision service's Prometheus metrics (served on --metrics-listen)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter(
    "decision_decisions_total",
    "Decisions made, by the rule that decided ('none': no rule)",
    ["rule"],
)
DECISION_SECONDS = Histogram(
    "decision_decide_seconds",
    "Time to decide inside the service",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
)
ERRORS = Counter("decision_errors_total", "Decide calls that failed with INTERNAL")
RELOADS = Counter("decision_rules_reloads_total", "Rules file reloads, by result", ["result"])
RULES_VERSION = Gauge(
    "decision_rules_info", "The live rules: 1 for the version in force", ["version", "source"]
)
LOG_WRITTEN = Counter("decision_log_written_total", "Decision log entries written")
LOG_DROPPED = Counter(
    "decision_log_dropped_total",
    "Decision log entries lost: buffer full, write failed, or still waiting at exit",
)
LOG_BUFFERED_BYTES = Gauge(
    "decision_log_buffered_bytes", "Memory held by decisions waiting to be logged (estimate)"
)


DIRECTORY_FAILURES = Counter(
    "decision_directory_failures_total",
    "Contact lookups that failed or passed their deadline (the caller was treated as unknown)",
    ["reason"],
)
DIRECTORY_UP = Gauge(
    "decision_directory_up", "1 while contact lookups succeed, 0 while the directory is degraded"
)


def rules_went_live(version: str, source: str) -> None:
    RULES_VERSION.clear()
    RULES_VERSION.labels(version, source).set(1)
