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
    involved. Linear in the rules (a file of 12,000 is checked in seconds)."""
    if not names.checked:
        return []
    queues = [_queue_set(rule.actions) for rule in rules]
    default_queue = _queue_set(defaults)
    later = _later_setters(rules, queues)
    earlier = _Setters()  # the queues of `continue` rules above the one looked at
    warnings: list[str] = []
    for position, rule in enumerate(rules):
        agents = _agents(rule)
        if agents:
            deciding = _deciding_queues(
                queues[position], earlier, later.get(position), default_queue
            )
            for queue, deciders in deciding.items():
                warnings += _queue_warnings(rule, agents, queue, deciders, names)
        if rule.keep_going and isinstance(queues[position], str):
            earlier.add(str(queues[position]), f"rule {rule.name!r}")
    return warnings


def _queue_warnings(
    rule: Rule, agents: list[tuple[str, str | None]], queue: str, deciders: str, names: Names
) -> list[str]:
    queue_shown = _shown(names, "queues", queue)
    which = f"which {deciders}" if deciders else "which the rule decides"
    members = names.members(queue)
    warnings: list[str] = []
    for key, agent in agents:
        if agent is None or members is None:
            continue  # an agent from the contact (not known before the call), or no members
        if agent not in members:
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
    if any(key == "agent_owned" for key, _ in agents) and names.owned_callbacks(queue) is False:
        warnings.append(
            f"rule {rule.name!r}: then.agent_owned: queue {queue_shown}, {which}, does "
            "not enable agent-owned callbacks in the org snapshot "
            "(agentOwnedRouting.enableAgentOwnedCallbacks); Genesys creates them only "
            "on a queue that does"
        )
    return warnings


_UNKNOWN = object()  # a queue from the contact: set, but not known before the call
_MOST_SHOWN = 5


class _Setters:
    """Per queue, who may set it: the first few named, the rest counted."""

    def __init__(self) -> None:
        self.by_queue: dict[str, tuple[list[str], int]] = {}

    def add(self, queue: str, setter: str, first: bool = False) -> None:
        """`first`: the setter goes before those already named (the nearer rule, going up)."""
        shown, count = self.by_queue.get(queue, ([], 0))
        if first:
            shown = [setter, *shown[: _MOST_SHOWN - 1]]
        elif len(shown) < _MOST_SHOWN:
            shown = [*shown, setter]
        self.by_queue[queue] = (shown, count + 1)

    def copy(self) -> _Setters:
        copied = _Setters()
        copied.by_queue = dict(self.by_queue)  # the lists are replaced, never changed
        return copied


def _later_setters(rules: Sequence[Rule], queues: Sequence[object]) -> dict[int, _Setters]:
    """For each `continue` rule that names agents and sets no queue, the rules below it that
    set one (one pass from the bottom)."""
    found: dict[int, _Setters] = {}
    below = _Setters()
    for position in range(len(rules) - 1, -1, -1):
        rule = rules[position]
        if rule.keep_going and queues[position] is None and _agents(rule):
            found[position] = below.copy()
        if isinstance(queues[position], str):
            below.add(str(queues[position]), f"rule {rule.name!r}", first=True)
    return found


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
    own: object, earlier: _Setters, later: _Setters | None, default_queue: object
) -> dict[str, str]:
    """Each queue that may decide a rule's callback (the first matched rule setting a queue
    wins, then the defaults), with who sets it: "" for the rule itself, else "rule 'b' may
    decide when this rule matches". `later`: the rules below, for a `continue` rule."""
    others = _Setters()
    others.by_queue = dict(earlier.by_queue)
    found: dict[str, str] = {}
    if isinstance(own, str):
        found[own] = ""
    elif own is None:
        for queue, (shown, count) in (later.by_queue if later else {}).items():
            for setter in shown:
                others.add(queue, setter)
            if count > len(shown):  # the uncounted rest
                names_, total = others.by_queue[queue]
                others.by_queue[queue] = (names_, total + count - len(shown))
        if isinstance(default_queue, str):
            others.add(default_queue, "[defaults]")
    for queue, (shown, count) in others.by_queue.items():
        if queue in found:
            continue
        listed = ", ".join(shown)
        if count > len(shown):
            listed += f" and {count - len(shown)} more"
        found[queue] = f"{listed} may decide when this rule matches"
    return found


def _shown(names: Names, kind: str, entity_id: str) -> str:
    """An id with its name, for a warning: 'Ana Agent' (3f1c...)."""
    name = names.name_of(kind, entity_id)
    return f"{name!r} ({entity_id})" if name else entity_id
