"""Rule sets that load but will not do what they say in Genesys: `decision check` warns."""

from __future__ import annotations

from collections.abc import Sequence

from decision.engine.ruleset import Rule

_AGENTS = {"preferred_agents", "agent_owned"}


def schedule_warnings(rules: Sequence[tuple[Rule, set[str]]]) -> list[str]:
    """Genesys ignores preferred agents on scheduled callbacks: flag rules that may combine them.
    Each rule comes with the `then` keys it sets."""
    warnings: list[str] = []
    for i, (rule, sets) in enumerate(rules):
        reach = [sets]
        if rule.keep_going:
            reach += [later for _, later in rules[i + 1 :]]
        schedules = any("schedule" in s for s in reach)
        prefers = any(_AGENTS & s for s in reach)
        if schedules and prefers and ("schedule" in sets or _AGENTS & sets):
            warnings.append(
                f"rule {rule.name!r}: schedules a callback and sets preferred agents; Genesys "
                "does not apply preferred-agent routing to scheduled callbacks"
            )
    return warnings
