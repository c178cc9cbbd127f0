"""The routing engine: pure functions from a callback request and caller facts to a patch.

No I/O, no gRPC, no clock of its own: the caller passes the moment to decide at."""

from decision.engine.loader import RulesError, parse_rules
from decision.engine.numbers import NumberFacts, number_facts
from decision.engine.request import CallbackFields, CallbackRequest, Contact
from decision.engine.ruleset import Decision, RuleSet, RuleTrace

__all__ = [
    "CallbackFields",
    "CallbackRequest",
    "Contact",
    "Decision",
    "NumberFacts",
    "RuleSet",
    "RuleTrace",
    "RulesError",
    "number_facts",
    "parse_rules",
]
