"""Rule sets that load but will not do what they say in Genesys: `decision check` warns."""

from __future__ import annotations

from collections.abc import Sequence

from decision.engine import actions as act
from decision.engine.names import Names
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


def membership_warnings(rules: Sequence[Rule], names: Names) -> list[str]:
    """Genesys offers a callback only to members of its queue (joined, to receive it): flag a
    rule that prefers, or gives the callback to, an agent its queue does not have, where an org
    snapshot says who the members are."""
    warnings: list[str] = []
    for rule in rules:
        queue = next(
            (a.value for a in rule.actions if isinstance(a, act.SetValue) and a.key == "queue"),
            None,
        )
        members = names.members(queue) if isinstance(queue, str) else None
        if members is None:
            continue
        for action in rule.actions:
            if (
                isinstance(action, act.AddToList)
                and action.key == "preferred_agents"
                and action.mode != act.REMOVE  # a removed agent is not offered anything
            ):
                agents = [i for i in action.items if isinstance(i, str)]
            elif isinstance(action, act.SetValue) and action.key == "agent_owned":
                agents = [action.value] if isinstance(action.value, str) else []
            else:
                continue
            queue_shown = _shown(names, "queues", str(queue))
            for agent in agents:
                agent_shown = _shown(names, "agents", agent)
                if agent not in members:
                    warnings.append(
                        f"rule {rule.name!r}: then.{action.key}: agent {agent_shown} is not a "
                        f"member of queue {queue_shown}, which the rule decides; Genesys offers "
                        "callbacks only to members"
                    )
                elif not members[agent]:
                    warnings.append(
                        f"rule {rule.name!r}: then.{action.key}: agent {agent_shown} is a member "
                        f"of queue {queue_shown}, which the rule decides, but has not joined it"
                    )
    return warnings


def _shown(names: Names, kind: str, entity_id: str) -> str:
    """An id with its name, for a warning: 'Ana Agent' (3f1c...)."""
    name = names.name_of(kind, entity_id)
    return f"{name!r} ({entity_id})" if name else entity_id
