"""The customer's live Genesys state as an outside fact (`LIVE`): each queue's load (waiting,
interacting, agents on queue and idle, estimated wait) and each agent's routing status, with when
it was read. `queue_load` conditions and `agents_on_queue_only` actions read it.

A decision gets a `LiveView`: the state the poller last swapped in, the moment of the decision
on the poller's clock and the stale limit. A value older than the limit, or never read, is
unknown. The view remembers what the decision read (value and age, or why unknown): that is what
the reply, the decision log and explain show, and what replay decides from. It also remembers,
within a bound, ids that were asked for but never read (a request's queue, a contact's agent), so
the poller can read them from its next poll on."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from decision.engine.facts import Fact

OFF_QUEUE = "OFF_QUEUE"
MEASURES = ("waiting", "interacting", "agents_on_queue", "agents_idle", "estimated_wait")
NOT_READ = "not read yet"
NOT_LOGGED = "not in the logged state"
LEARN_LIMIT = 100  # ids a service may learn from requests and contacts (hostile traffic)


@dataclass(frozen=True, slots=True)
class QueueLoad:
    """One queue's observation. `estimated_wait`: seconds, None when not asked or not known;
    any other measure is None only in a hand-written state (a case, `explain --live`) that
    leaves it out: unknown, never 0. `read_at`: seconds on the poller's clock."""

    waiting: int | None
    interacting: int | None
    agents_on_queue: int | None
    agents_idle: int | None
    estimated_wait: int | None
    read_at: float

    def measure(self, name: str) -> float | None:
        value = self.estimated_wait if name == "estimated_wait" else getattr(self, name)
        return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """One agent's routing status (OFF_QUEUE, IDLE, INTERACTING, NOT_RESPONDING, COMMUNICATING)."""

    status: str
    read_at: float

    @property
    def on_queue(self) -> bool:
        return self.status != OFF_QUEUE


@dataclass(frozen=True, slots=True)
class LiveState:
    """What one poll knows; swapped whole, never changed. `unknown`: ids read and found unknown,
    with why (a queue the API says nothing of, a replayed decision's unknowns)."""

    queues: Mapping[str, QueueLoad] = field(default_factory=dict)
    agents: Mapping[str, AgentStatus] = field(default_factory=dict)
    unknown: Mapping[str, str] = field(default_factory=dict)


EMPTY = LiveState()


class Learned:
    """Ids decisions asked for that the state lacked, bounded, for the poller to add."""

    __slots__ = ("agents", "queues")

    def __init__(self) -> None:
        self.queues: dict[str, None] = {}
        self.agents: dict[str, None] = {}

    def add(self, into: dict[str, None], entity_id: str) -> None:
        if entity_id not in into and len(into) < LEARN_LIMIT:
            into[entity_id] = None


class LiveView:
    """The live state as one decision sees it (see the module's docstring)."""

    __slots__ = ("_learned", "agents_read", "now", "queues_read", "stale_after", "state")

    def __init__(
        self,
        state: LiveState,
        now: float,
        stale_after: float,
        learned: Learned | None = None,
    ) -> None:
        self.state = state
        self.now = now
        self.stale_after = stale_after
        self._learned = learned
        # id -> the value read, or why it is unknown
        self.queues_read: dict[str, QueueLoad | str] = {}
        self.agents_read: dict[str, AgentStatus | str] = {}

    # queue() and agent() are on the request path of every decision that reads live state:
    # written out rather than shared, and compared by identity (NOT_READ is one object).
    def queue(self, queue_id: str) -> QueueLoad | None:
        """The queue's load, None when unknown (never read, stale, not a queue)."""
        seen = self.queues_read.get(queue_id)
        if seen is None:
            entry = self.state.queues.get(queue_id)
            if entry is None:
                seen = self.state.unknown.get(queue_id, NOT_READ)
                if seen is NOT_READ and self._learned is not None and queue_id:
                    self._learned.add(self._learned.queues, queue_id)
            elif self.now - entry.read_at > self.stale_after:
                seen = self._stale(entry)
            else:
                seen = entry
            self.queues_read[queue_id] = seen
        return None if seen.__class__ is str else seen  # type: ignore[return-value]

    def agent(self, agent_id: str) -> AgentStatus | None:
        seen = self.agents_read.get(agent_id)
        if seen is None:
            entry = self.state.agents.get(agent_id)
            if entry is None:
                seen = self.state.unknown.get(agent_id, NOT_READ)
                if seen is NOT_READ and self._learned is not None:
                    self._learned.add(self._learned.agents, agent_id)
            elif self.now - entry.read_at > self.stale_after:
                seen = self._stale(entry)
            else:
                seen = entry
            self.agents_read[agent_id] = seen
        return None if seen.__class__ is str else seen  # type: ignore[return-value]

    def why_unknown(self, entity_id: str) -> str:
        seen = self.queues_read.get(entity_id) or self.agents_read.get(entity_id)
        return seen if isinstance(seen, str) else ""

    def age(self, entry: QueueLoad | AgentStatus) -> float:
        return max(0.0, self.now - entry.read_at)

    def _stale(self, entry: QueueLoad | AgentStatus) -> str:
        return f"stale: read {self.now - entry.read_at:.0f} s ago (limit {self.stale_after:g} s)"


def _age(view: LiveView, entry: QueueLoad | AgentStatus) -> float:
    return round(view.age(entry), 3)


def live_as_mapping(view: LiveView) -> dict[str, Any]:
    """What the decision read, as the decision log writes it: per queue and agent the values
    and their age in seconds, or why they were unknown."""
    queues: dict[str, Any] = {}
    for queue_id, seen in view.queues_read.items():
        if isinstance(seen, str):
            queues[queue_id] = {"unknown": seen}
        else:
            queues[queue_id] = {m: getattr(seen, m) for m in MEASURES} | {
                "age_seconds": _age(view, seen)
            }
    agents: dict[str, Any] = {}
    for agent_id, status in view.agents_read.items():
        if isinstance(status, str):
            agents[agent_id] = {"unknown": status}
        else:
            agents[agent_id] = {"routing_status": status.status, "age_seconds": _age(view, status)}
    return {"queues": queues, "agents": agents}


def _number(value: Any, default: float = 0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return float(value)


def _count(value: Any) -> int | None:
    number = _number(value, math.nan)
    return None if math.isnan(number) else int(number)


def live_from_mapping(raw: Mapping[str, Any]) -> LiveView:
    """A view of exactly what a decision read (a log entry, a cases file's `live` table): logged
    values are known at their logged age, logged unknowns stay unknown for the same reason, and
    anything else is unknown (`NOT_LOGGED`). Cases may give a queue's measures and an agent's
    status without an age (read just now)."""
    queues: dict[str, QueueLoad] = {}
    agents: dict[str, AgentStatus] = {}
    unknown: dict[str, str] = {}
    # Whatever a hand-written table holds, never a traceback: what is not a reading is unknown.
    listed = raw.get("queues")
    for queue_id, entry in (listed if isinstance(listed, Mapping) else {}).items():
        if not isinstance(entry, Mapping) or "unknown" in entry:
            why = entry.get("unknown") if isinstance(entry, Mapping) else None
            unknown[str(queue_id)] = str(why) if why else NOT_LOGGED
            continue
        # A measure left out (or not a number) is unknown: a case giving only `waiting = 9`
        # once matched `agents_idle < 1`, reading the others as 0.
        queues[str(queue_id)] = QueueLoad(
            waiting=_count(entry.get("waiting")),
            interacting=_count(entry.get("interacting")),
            agents_on_queue=_count(entry.get("agents_on_queue")),
            agents_idle=_count(entry.get("agents_idle")),
            estimated_wait=_count(entry.get("estimated_wait")),
            read_at=-_number(entry.get("age_seconds")),
        )
    listed = raw.get("agents")
    for agent_id, entry in (listed if isinstance(listed, Mapping) else {}).items():
        if isinstance(entry, str):  # a case's shorthand: ana = "OFF_QUEUE"
            agents[str(agent_id)] = AgentStatus(entry, 0.0)
        elif not isinstance(entry, Mapping) or "unknown" in entry:
            why = entry.get("unknown") if isinstance(entry, Mapping) else None
            unknown[str(agent_id)] = str(why) if why else NOT_LOGGED
        else:
            status = str(entry.get("routing_status") or OFF_QUEUE)
            agents[str(agent_id)] = AgentStatus(status, -_number(entry.get("age_seconds")))
    state = LiveState(queues, agents, unknown)
    return _Replayed(state, 0.0, math.inf)


class _Replayed(LiveView):
    """A logged view: what was not logged is `NOT_LOGGED` rather than `NOT_READ`, and nothing
    is stale (the logged age is the age it had)."""

    __slots__ = ()

    def queue(self, queue_id: str) -> QueueLoad | None:
        if queue_id not in self.state.queues and queue_id not in self.queues_read:
            self.queues_read[queue_id] = self.state.unknown.get(queue_id, NOT_LOGGED)
        return super().queue(queue_id)

    def agent(self, agent_id: str) -> AgentStatus | None:
        if agent_id not in self.state.agents and agent_id not in self.agents_read:
            self.agents_read[agent_id] = self.state.unknown.get(agent_id, NOT_LOGGED)
        return super().agent(agent_id)


LIVE: Fact[LiveView] = Fact("live", live_from_mapping, live_as_mapping)
