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


def membership_warnings(
    rules: Sequence[Rule], names: Names, defaults: Sequence[act.Action] = ()
) -> list[str]:
    """Genesys offers a callback only to members of its queue (joined, to receive it), and
    creates an agent-owned one only on a queue that enables them: flag a rule that prefers, or
    gives the callback to, an agent the queue deciding its callback does not have, where an org
    snapshot says who the members are. That queue is the rule's own, or that of another rule
    that may match with it (a `continue = true` rule before it, or, when it says `continue`
    itself and sets no queue, a rule after it), or the defaults'; each warning names the rules
    involved."""
    queues = [_queue_set(rule.actions) for rule in rules]
    default_queue = _queue_set(defaults)
    warnings: list[str] = []
    for position, rule in enumerate(rules):
        agents = _agents(rule)
        if not agents:
            continue
        for queue, deciders in _deciding_queues(position, rules, queues, default_queue).items():
            queue_shown = _shown(names, "queues", queue)
            which = f"which {deciders}" if deciders else "which the rule decides"
            members = names.members(queue)
            for key, agent in agents:
                if agent is None:
                    pass  # an agent from the contact: not known before the call
                elif members is None:
                    pass
                elif agent not in members:
                    warnings.append(
                        f"rule {rule.name!r}: then.{key}: agent {_shown(names, 'agents', agent)} "
                        f"is not a member of queue {queue_shown}, {which}; Genesys offers "
                        "callbacks only to members"
                    )
                elif not members[agent]:
                    warnings.append(
                        f"rule {rule.name!r}: then.{key}: agent {_shown(names, 'agents', agent)} "
                        f"is a member of queue {queue_shown}, {which}, but has not joined it"
                    )
            if (
                any(key == "agent_owned" for key, _ in agents)
                and names.owned_callbacks(queue) is False
            ):
                warnings.append(
                    f"rule {rule.name!r}: then.agent_owned: queue {queue_shown}, {which}, does "
                    "not enable agent-owned callbacks in the org snapshot "
                    "(agentOwnedRouting.enableAgentOwnedCallbacks); Genesys creates them only "
                    "on a queue that does"
                )
    return warnings


_UNKNOWN = object()  # a queue from the contact: set, but not known before the call
_MOST_SHOWN = 5


def _queue_set(actions: Sequence[act.Action]) -> object:
    """The queue id these actions set, _UNKNOWN for one from the contact, None for none."""
    for action in actions:
        if isinstance(action, act.SetValue) and action.key == "queue":
            return action.value if isinstance(action.value, str) else _UNKNOWN
    return None


def _agents(rule: Rule) -> list[tuple[str, str | None]]:
    """(then key, agent id) for each agent the rule names; None for one from the contact."""
    found: list[tuple[str, str | None]] = []
    for action in rule.actions:
        if isinstance(action, act.AddToList) and action.key == "preferred_agents":
            found += [(action.key, i) for i in action.items if isinstance(i, str)]
        elif isinstance(action, act.SetValue) and action.key == "agent_owned":
            found.append((action.key, action.value if isinstance(action.value, str) else None))
    return found


def _deciding_queues(
    position: int, rules: Sequence[Rule], queues: Sequence[object], default_queue: object
) -> dict[str, str]:
    """Each queue that may decide the callback of the rule at `position` (the first matched
    rule setting a queue wins, then the defaults), with who sets it: "" for the rule itself,
    else "rule 'b' may decide when this rule matches" (several rules named, up to a few)."""
    others: dict[str, list[str]] = {}
    for earlier in range(position):
        if rules[earlier].keep_going and isinstance(queues[earlier], str):
            others.setdefault(str(queues[earlier]), []).append(f"rule {rules[earlier].name!r}")
    own = queues[position]
    found: dict[str, str] = {}
    if isinstance(own, str):
        found[own] = ""
    elif own is None:
        if rules[position].keep_going:
            for later in range(position + 1, len(rules)):
                if isinstance(queues[later], str):
                    others.setdefault(str(queues[later]), []).append(f"rule {rules[later].name!r}")
        if isinstance(default_queue, str):
            others.setdefault(default_queue, []).append("[defaults]")
    for queue, setters in others.items():
        if queue in found:
            continue
        shown = ", ".join(setters[:_MOST_SHOWN])
        if len(setters) > _MOST_SHOWN:
            shown += f" and {len(setters) - _MOST_SHOWN} more"
        found[queue] = f"{shown} may decide when this rule matches"
    return found


def _shown(names: Names, kind: str, entity_id: str) -> str:
    """An id with its name, for a warning: 'Ana Agent' (3f1c...)."""
    name = names.name_of(kind, entity_id)
    return f"{name!r} ({entity_id})" if name else entity_id
