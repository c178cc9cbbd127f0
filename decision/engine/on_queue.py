"""The `agents_on_queue_only = true` action option, beside `preferred_agents` or `agent_owned` in
the same `then`: the agents that rule names whose routing status says they are off queue are left
out, each with a note; an agent whose status is unknown (never read, stale) is kept, with a note.
When none is left the rest of the answer stands and Genesys routes to the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from decision.engine.actions import Action, AddToList, PatchDraft, SetValue
from decision.engine.live import LIVE, OFF_QUEUE, LiveView
from decision.engine.subject import Subject

if TYPE_CHECKING:
    from decision.engine.compiling import Compiler
    from decision.engine.names import Names

OPTION = "agents_on_queue_only"
AGENT_KEYS = ("preferred_agents", "agent_owned")


def _who(names: Names | None, agent_id: str) -> str:
    name = names.name_of("agents", agent_id) if names is not None else None
    return f"{name} ({agent_id})" if name else agent_id


ON, OFF = "on queue", "off queue"


def standing(view: LiveView | None, agent_id: str) -> str:
    """ON, OFF, or why the agent's status is unknown in a word or two ("stale", "not read
    yet"): what the answer depends on, so the rule set can keep one patch part per standing.
    The reply's facts carry the status itself and its age."""
    if view is None:
        return "no live state"
    status = view.agent(agent_id)
    if status is None:
        return view.why_unknown(agent_id).partition(":")[0]
    return OFF if status.status == OFF_QUEUE else ON


def _keeps(key: str, agent_id: str, standing: str, names: Names | None, notes: list[str]) -> bool:
    """Whether the agent stays; says why in `notes` when it is left out or unknown."""
    if standing == ON:
        return True
    if standing == OFF:
        notes.append(f"{key}: {_who(names, agent_id)} left out: off queue")
        return False
    notes.append(f"{key}: {_who(names, agent_id)} kept: routing status unknown ({standing})")
    return True


class OnQueueAgents(Action):
    """`preferred_agents` with the option: the agents this rule adds, less those off queue."""

    __slots__ = ("agents", "inner", "names")
    varies = True

    def __init__(self, inner: AddToList, names: Names) -> None:
        super().__init__(inner.key)
        self.inner = inner
        self.names = names
        self.per_caller = inner.per_caller  # a contact's agents: nothing to keep
        self.agents = tuple(a for a in inner.items if isinstance(a, str))

    def variant(self, subject: Subject) -> object:
        view = subject.fact(LIVE)
        return tuple([standing(view, agent) for agent in self.agents])

    def apply(self, draft: PatchDraft, subject: Subject) -> None:
        target = draft.lists[self.key]
        before = set(target)
        self.inner.apply(draft, subject)
        added = [agent for agent in target if agent not in before]
        if not added:
            return
        view = subject.fact(LIVE)
        for agent in added:
            if not _keeps(self.key, agent, standing(view, agent), self.names, draft.notes):
                del target[agent]
        if not any(agent in target for agent in added):
            draft.notes.append(f"{self.key}: no agent of this rule is on queue")


class OnQueueOwner(Action):
    """`agent_owned` with the option: an owner off queue leaves the slot free for later rules."""

    __slots__ = ("inner", "names")
    varies = True

    def __init__(self, inner: SetValue, names: Names) -> None:
        super().__init__(inner.key)
        self.inner = inner
        self.names = names
        self.per_caller = inner.per_caller

    def variant(self, subject: Subject) -> object:
        owner = self.inner.value
        return standing(subject.fact(LIVE), owner) if isinstance(owner, str) else None

    def apply(self, draft: PatchDraft, subject: Subject) -> None:
        if self.key in draft.scalars:
            return
        self.inner.apply(draft, subject)
        owner = cast("str | None", draft.scalars.get(self.key))
        if owner:
            state = standing(subject.fact(LIVE), owner)
            if not _keeps(self.key, owner, state, self.names, draft.notes):
                del draft.scalars[self.key]


def apply_on_queue_only(
    compiler: Compiler, where: str, then: dict[str, Any], actions: list[Action]
) -> list[Action]:
    """The rule's actions, its agents' actions wrapped when `then` sets the option."""
    if OPTION not in then:
        return actions
    value = then[OPTION]
    place = f"{where}.{OPTION}"
    if not isinstance(value, bool):
        compiler.problem(place, "expected true or false")
        return actions
    if not any(key in then for key in AGENT_KEYS):
        compiler.problem(place, "needs preferred_agents or agent_owned in the same table")
        return actions
    if not value:
        return actions
    compiler.reads(LIVE)
    wrapped: list[Action] = []
    for action in actions:
        if isinstance(action, AddToList) and action.key == "preferred_agents":
            wrapped.append(OnQueueAgents(action, compiler.names))
        elif isinstance(action, SetValue) and action.key == "agent_owned":
            wrapped.append(OnQueueOwner(action, compiler.names))
        else:
            wrapped.append(action)
    return wrapped
