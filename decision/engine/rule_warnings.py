"""Rule sets that load but will not do what they say in Genesys: `decision check` warns."""

from __future__ import annotations

from collections.abc import Sequence, Set

from decision.engine import actions as act
from decision.engine.names import Names
from decision.engine.ruleset import Rule

_AGENTS = {"preferred_agents", "agent_owned"}


_NO_AGENT_ROUTING = "Genesys does not apply preferred-agent routing to scheduled callbacks"
_DEFAULTS = "[defaults]"


def schedule_warnings(
    rules: Sequence[tuple[Rule, set[str]]], defaults: Set[str] = frozenset()
) -> list[str]:
    """Genesys ignores preferred agents on scheduled callbacks: flag a rule that does both, and
    each pair that may decide one callback together where one sets agents and the other
    schedules, naming both, once per pair. Two rules decide together when the earlier says
    `continue = true`; [defaults] fill every decision. Each rule comes with the `then` keys it
    sets; `defaults`: the actions [defaults] sets."""
    warnings = [
        f"{name}: schedules a callback and {_agents(sets)}; {_NO_AGENT_ROUTING}"
        for name, sets in [(_DEFAULTS, defaults), *((f"rule {r.name!r}", s) for r, s in rules)]
        if "schedule" in sets and _AGENTS & sets
    ]
    for i, (rule, sets) in enumerate(rules):
        name = f"rule {rule.name!r}"
        together = [
            (f"rule {later.name!r}", later_sets, f"rules {rule.name!r} and {later.name!r}")
            for later, later_sets in (rules[i + 1 :] if rule.keep_going else [])
        ]
        together.append((_DEFAULTS, set(defaults), f"{name} and {_DEFAULTS}"))
        for other, other_sets, pair in together:
            why = "continue = true" if other != _DEFAULTS else "[defaults] fill every decision"
            for agents, agent_sets, scheduler, scheduler_sets in (
                (name, sets, other, other_sets),
                (other, other_sets, name, sets),
            ):
                # An agent-setter that schedules itself is warned about on its own.
                if _AGENTS & agent_sets and "schedule" in scheduler_sets - agent_sets:
                    warnings.append(
                        f"{pair} may decide one callback together ({why}): {agents} "
                        f"{_agents(agent_sets)}, {scheduler} schedules it; {_NO_AGENT_ROUTING}"
                    )
    return warnings


def _agents(sets: Set[str]) -> str:
    if "preferred_agents" in sets:
        return "sets preferred agents"
    return "makes the callback agent-owned"


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
