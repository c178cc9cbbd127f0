"""The Genesys ids a rule set uses, with the names its `[names.*]` tables and the org snapshot
give them, for the console's Rules view: `5a9d...0001 (Support UK)` beside the file's text."""

from __future__ import annotations

import re
from typing import Any

from contract.callback import is_genesys_id
from decision.engine.names import KINDS
from decision.engine.ruleset import RuleSet

# An id as written in the text (GENESYS_ID is anchored; this one is found inside a line).
_ID_IN_TEXT = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def rules_names(rules: RuleSet, text: str) -> dict[str, str]:
    """id -> name for every id the file's text writes and every id its rules resolved a name
    to (`queue = "Support UK"`); ids nothing names are left out. Worked out once per rules
    version (the version covers the text and the snapshot): GetRules asks for it every time."""
    cached = _CACHE.get(rules.version)
    if cached is None:
        ids = dict.fromkeys(_ID_IN_TEXT.findall(text))
        ids.update(dict.fromkeys(_compiled_strings(rules)))
        cached = {}
        for entity_id in ids:
            name = _name_of(rules, entity_id) if is_genesys_id(entity_id) else None
            if name:
                cached[entity_id] = name
        _CACHE.clear()  # the live version and, briefly, the one before it: one is enough
        _CACHE[rules.version] = cached
    return dict(cached)


_CACHE: dict[str, dict[str, str]] = {}


def _name_of(rules: RuleSet, entity_id: str) -> str | None:
    # Genesys ids are UUIDs, unique across kinds: the first kind that names one is its kind.
    for kind in KINDS:
        name = rules.names.name_of(kind, entity_id)
        if name:
            return name
    return None


def _compiled_strings(rules: RuleSet) -> list[str]:
    """The string values of every rule's conditions and actions, and of the defaults. Read by
    attribute, not by class: a new condition or action kind that holds ids is covered too."""
    found: list[str] = []
    conditions: list[Any] = [c for rule in rules.rules for c in rule.conditions]
    while conditions:
        condition = conditions.pop()
        found += [v for v in getattr(condition, "values", ()) if isinstance(v, str)]
        conditions += getattr(condition, "inner", ())
    for actions in (*(rule.actions for rule in rules.rules), rules.defaults):
        for action in actions:
            value = getattr(action, "value", None)
            if isinstance(value, str):
                found.append(value)
            found += [v for v in getattr(action, "items", ()) if isinstance(v, str)]
    return found
