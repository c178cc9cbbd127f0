"""The Genesys ids a rule set uses, with the names its `[names.*]` tables and the org snapshot
give them, for the console's Rules view: `5a9d...0001 (Support UK)` beside the file's text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from contract.callback import is_genesys_id
from decision.engine.names import KINDS
from decision.engine.ruleset import RuleSet

# An id as written in the text (GENESYS_ID is anchored; this one is found inside a line).
_ID_IN_TEXT = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def rules_names(rules: RuleSet, text: str) -> dict[str, str]:
    """id -> name for every id the file's text writes and every id its rules resolved a name
    to (`queue = "Support UK"`); ids nothing names are left out."""
    found: dict[str, str] = {}
    for entity_id in (*_ID_IN_TEXT.findall(text), *_compiled_ids(rules)):
        if entity_id in found or not is_genesys_id(entity_id):
            continue
        name = _name_of(rules, entity_id)
        if name:
            found[entity_id] = name
    return found


def _name_of(rules: RuleSet, entity_id: str) -> str | None:
    # Genesys ids are UUIDs, unique across kinds: the first kind that names one is its kind.
    for kind in KINDS:
        name = rules.names.name_of(kind, entity_id)
        if name:
            return name
    return None


def _compiled_ids(rules: RuleSet) -> Iterator[str]:
    """The string values of every rule's conditions and actions, and of the defaults. Read by
    attribute, not by class: a new condition or action kind that holds ids is covered too."""
    for rule in rules.rules:
        yield from _condition_values(rule.conditions)
        yield from _action_values(rule.actions)
    yield from _action_values(rules.defaults)


def _condition_values(conditions: Iterable[Any]) -> Iterator[str]:
    for condition in conditions:
        yield from (v for v in getattr(condition, "values", ()) if isinstance(v, str))
        yield from _condition_values(getattr(condition, "inner", ()))


def _action_values(actions: Iterable[Any]) -> Iterator[str]:
    for action in actions:
        value = getattr(action, "value", None)
        if isinstance(value, str):
            yield value
        yield from (v for v in getattr(action, "items", ()) if isinstance(v, str))
