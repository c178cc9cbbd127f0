"""The decision service's own Prometheus metrics (served on --metrics-listen). Each component
defines its metrics beside the code that counts them (rules reloads in `decision/rules/live.py`,
the decision log's in `decision/decision_log/writer.py`, the directory's in
`decision/directory/provider.py`)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from contract.v1.decision_pb2 import CallbackPatch
from decision.engine.conditions import OneOf
from decision.engine.ruleset import RuleSet

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
CALLBACKS = Counter(
    "decision_callbacks_total",
    "Callbacks decided, by the queue they are routed to (a queue the live rules name, by the "
    "rules' or the org's name for it; 'other': any other queue; 'none': no queue) and when "
    "('scheduled': the decision sets callbackScheduledTime; 'immediate': it does not)",
    ["queue", "when"],
)
OTHER_QUEUE, NO_QUEUE = "other", "none"
SCHEDULED, IMMEDIATE = "scheduled", "immediate"


def queue_labels(rules: RuleSet) -> dict[str, str]:
    """Queue id -> its label, for every queue the rules route to (`queue = ...`) or test for
    (`when.queue_id`). The label set comes from the rules, never from requests: a request's
    queue the rules do not name counts as 'other', so no caller can grow the series."""
    ids: set[str] = set()
    actions = [*rules.defaults, *(a for rule in rules.rules for a in rule.actions)]
    for action in actions:
        value = getattr(action, "value", None)
        if action.key == "queue" and isinstance(value, str) and value:
            ids.add(value)
    for rule in rules.rules:
        for condition in rule.conditions:
            if isinstance(condition, OneOf) and condition.key == "queue_id":
                ids |= {v for v in condition.values if isinstance(v, str) and v}
    return {queue: rules.names.name_of("queues", queue) or queue for queue in ids}


class CallbackCounts:
    """Counts each decision in `decision_callbacks_total`. The labels are worked out once per
    rule set (a reload gives a new one) and each child counter is kept, so a decision pays two
    dict lookups and an increment."""

    def __init__(self) -> None:
        self._rules: RuleSet | None = None
        self._labels: dict[str, str] = {}
        self._children: dict[tuple[str, str], Counter] = {}

    def count(self, patch: CallbackPatch, request_queue: str, rules: RuleSet) -> None:
        if rules is not self._rules:
            self._rules, self._labels = rules, queue_labels(rules)
        # Where the callback goes: routingData's queue, else the top-level one, else the
        # request's own (what Genesys uses when the answer names none).
        queue = patch.routing_data.queue_id or patch.queue_id or request_queue
        label = self._labels.get(queue, OTHER_QUEUE) if queue else NO_QUEUE
        when = SCHEDULED if patch.HasField("callback_scheduled_time") else IMMEDIATE
        child = self._children.get((label, when))
        if child is None:
            child = self._children[(label, when)] = CALLBACKS.labels(label, when)
        child.inc()
