"""The decision service's own Prometheus metrics (served on --metrics-listen). Each component
defines its metrics beside the code that counts them (rules reloads in `decision/rules/live.py`,
the decision log's in `decision/decision_log/writer.py`, the directory's in
`decision/directory/provider.py`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

DECISIONS = Counter(
    "decision_decisions_total",
    "Decisions made, by the rule that decided: the last matched rule, whose match ended the "
    "evaluation ('none': no rule); one count per decision, so the rules' counts add up to the "
    "decisions. Earlier matched rules (continue = true) are counted in "
    "decision_rule_contributions_total",
    ["rule"],
)
CONTRIBUTIONS = Counter(
    "decision_rule_contributions_total",
    "Decisions each rule contributed to: every matched rule, the deciding one and those with "
    "continue = true before it (a decision counts once per rule it matched)",
    ["rule"],
)
DECISION_SECONDS = Histogram(
    "decision_decide_seconds",
    "Time to decide inside the service",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
)
ERRORS = Counter("decision_errors_total", "Decide calls that failed with INTERNAL")
REPLIES_ABANDONED = Counter(
    "decision_replies_abandoned_total",
    "Calls whose client went away before the answer was sent (a reply never read)",
)
