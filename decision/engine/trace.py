"""`explain`: `RuleSet.decide` run with a recording tracer, as plain data (facts, each rule's
fate with its first failing condition, the patch in Genesys' JSON names, notes) that the CLI,
the gRPC service or a console can render as they like."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict

from contract.callback import ANSWER_FIELDS
from decision.engine.conditions import Condition
from decision.engine.facts import NO_FACTS, Fact, OutsideFacts
from decision.engine.numbers import NumberFacts
from decision.engine.request import CallbackFields
from decision.engine.ruleset import Decision, Rule, RuleSet
from decision.engine.schedule_rules import SCHEDULE_GROUPS

MATCHED = "matched"
NOT_MATCHED = "not matched"
NOT_TRIED = "not tried"  # an earlier rule decided


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule's fate: MATCHED, NOT_MATCHED (with `failed`, the key of its first condition
    that did not hold) or NOT_TRIED."""

    name: str
    outcome: str
    failed: str | None = None


@dataclass(frozen=True, slots=True)
class Explanation:
    """How one request was decided. Only plain values: `as_dict()` is JSON-ready."""

    rules_source: str
    rules_version: str
    facts: dict[str, Any]
    rules: list[RuleOutcome]
    patch: dict[str, Any]
    notes: list[str]
    names: dict[str, str] = dataclasses.field(default_factory=dict)  # id -> name, of the patch

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class RuleRecorder:
    """A tracer that keeps what each tried rule did, in the order decide tried them."""

    def __init__(self) -> None:
        self.tried: dict[str, Condition | None] = {}

    def rule_tried(self, rule: Rule, failed: Condition | None) -> None:
        self.tried[rule.name] = failed


def decide_traced(
    rules: RuleSet,
    request: CallbackFields,
    now: datetime,
    facts: OutsideFacts = NO_FACTS,
    number: NumberFacts | None = None,
) -> tuple[Decision, list[RuleOutcome]]:
    """The decision `rules.decide` makes for this request, and every rule's fate in file order
    (the gRPC Explain call builds its answer from these)."""
    recorder = RuleRecorder()
    decision = rules.decide(request, now, facts, number, tracer=recorder)
    outcomes = []
    for rule in rules.rules:
        if rule.name not in recorder.tried:
            outcomes.append(RuleOutcome(rule.name, NOT_TRIED))
            continue
        failed = recorder.tried[rule.name]
        if failed is None:
            outcomes.append(RuleOutcome(rule.name, MATCHED))
        else:
            outcomes.append(RuleOutcome(rule.name, NOT_MATCHED, failed.key))
    return decision, outcomes


def explain(
    rules: RuleSet,
    request: CallbackFields,
    now: datetime,
    facts: OutsideFacts = NO_FACTS,
    number: NumberFacts | None = None,
) -> Explanation:
    """The decision `rules.decide` makes for this request, with every rule's fate."""
    decision, outcomes = decide_traced(rules, request, now, facts, number)
    found = decision.number
    groups = decision.derived.get(SCHEDULE_GROUPS) or facts.get(SCHEDULE_GROUPS)
    return Explanation(
        rules_source=rules.source,
        rules_version=rules.version,
        facts={
            "e164": found.e164,
            "region": found.region,
            "region_source": found.region_source,
            "calling_code": found.calling_code,
            "number_type": found.number_type,
            "valid": found.valid,
            "time_zone": decision.time_zone,
            "time_zone_source": decision.time_zone_source,
            "local_time": decision.local_time.isoformat(),
            # Every declared outside fact, known or not: `contact_known`, ...
            **{
                f"{name}_known": fact in facts or fact in decision.derived
                for name, fact in Fact.registry.items()
            },
            # The schedule groups the decision asked about: state, active schedules, opening.
            **({"schedule_groups": SCHEDULE_GROUPS.write(groups)} if groups else {}),
        },
        rules=outcomes,
        patch=MessageToDict(decision.patch),
        notes=list(decision.notes),
        names=patch_names(rules, MessageToDict(decision.patch)),
    )


# Where an answer carries Genesys ids, and of what kind (the contract's table says, for all but
# routingData.queueId, which goes with `queue`).
_ID_PATHS = {f.path: f.names for f in ANSWER_FIELDS if f.names} | {"routingData.queueId": "queues"}


def patch_names(rules: RuleSet, patch: dict[str, Any]) -> dict[str, str]:
    """The ids of an answer (Genesys JSON names) with the names the rules and the org snapshot
    give them, for showing beside them: `queueId 5a9d...0001 (Support UK)`."""
    found: dict[str, str] = {}
    for path, kind in _ID_PATHS.items():
        head, _, tail = path.partition(".")
        value = patch.get(head)
        if tail:
            value = value.get(tail) if isinstance(value, dict) else None
        items = value if isinstance(value, list) else [value]
        for item in items:
            entity_id = item.get("agent", {}).get("id") if isinstance(item, dict) else item
            if isinstance(entity_id, str) and entity_id not in found:
                name = rules.names.name_of(kind, entity_id)
                if name:
                    found[entity_id] = name
    return found
