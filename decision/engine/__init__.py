"""The routing engine: pure functions from a callback request and caller facts to a patch.

No I/O, no gRPC calls, no clock of its own: the caller passes the moment to decide at. The
patch it returns is the generated `decision.v1` CallbackPatch message, the one the service
answers with."""

from decision.engine.compiling import RulesError
from decision.engine.contact import CONTACT, Contact, contact_from_mapping
from decision.engine.facts import NO_FACTS, Fact, OutsideFacts
from decision.engine.loader import RulesInput, parse_rules, rules_version
from decision.engine.numbers import NumberFacts, number_facts
from decision.engine.request import (
    MOMENT_RANGE_TEXT,
    CallbackFields,
    CallbackRequest,
    decidable,
)
from decision.engine.ruleset import Decision, RuleSet, Tracer
from decision.engine.trace import MATCHED, Explanation, RuleOutcome, decide_traced, explain

__all__ = [
    "CONTACT",
    "MATCHED",
    "MOMENT_RANGE_TEXT",
    "NO_FACTS",
    "CallbackFields",
    "CallbackRequest",
    "Contact",
    "Decision",
    "Explanation",
    "Fact",
    "NumberFacts",
    "OutsideFacts",
    "RuleOutcome",
    "RuleSet",
    "RulesError",
    "RulesInput",
    "Tracer",
    "contact_from_mapping",
    "decidable",
    "decide_traced",
    "explain",
    "number_facts",
    "parse_rules",
    "rules_version",
]
