"""The routing engine: pure functions from a callback request and caller facts to a patch.

No I/O, no gRPC calls, no clock of its own: the caller passes the moment to decide at. The
patch it returns is the generated `decision.v1` CallbackPatch message, the one the service
answers with."""

from decision.engine.compiling import RulesError
from decision.engine.loader import parse_rules
from decision.engine.numbers import NumberFacts, number_facts
from decision.engine.request import (
    MOMENT_RANGE_TEXT,
    CallbackFields,
    CallbackRequest,
    Contact,
    decidable,
)
from decision.engine.ruleset import Decision, RuleSet, Tracer
from decision.engine.trace import MATCHED, Explanation, RuleOutcome, decide_traced, explain

__all__ = [
    "MATCHED",
    "MOMENT_RANGE_TEXT",
    "CallbackFields",
    "CallbackRequest",
    "Contact",
    "Decision",
    "Explanation",
    "NumberFacts",
    "RuleOutcome",
    "RuleSet",
    "RulesError",
    "Tracer",
    "decidable",
    "decide_traced",
    "explain",
    "number_facts",
    "parse_rules",
]
