"""What live state the rules ask for, and reading it from Genesys (reference section 7): one
queue observation query for every queue (`POST /api/v2/analytics/queues/observations/query`),
the estimated wait of the queues a rule asks it of
(`GET /api/v2/routing/queues/{id}/mediatypes/callback/estimatedwaittime`), and the routing status
of the agents an `agents_on_queue_only` action may name, a hundred at a time
(`GET /api/v2/users?id=...&expand=routingStatus`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from contract.callback import is_genesys_id
from decision.engine.actions import Action, ContactList
from decision.engine.conditions import Condition, Not
from decision.engine.live import AgentStatus, QueueLoad
from decision.engine.on_queue import OnQueueAgents, OnQueueOwner
from decision.engine.queue_load import QueueLoadCondition
from decision.engine.ruleset import RuleSet
from decision.genesys.api import GenesysApi, GenesysError

OBSERVATIONS = "/api/v2/analytics/queues/observations/query"
METRICS = ["oOnQueueUsers", "oWaiting", "oInteracting"]
BATCH = 100  # queues per observation query and ids per users query (URL length, I)
MAX_QUEUES = 200  # queues one service reads, named and learned
MAX_AGENTS = 1000


@dataclass(frozen=True)
class LiveWants:
    """What the live rules read. `request_queues`: some condition reads the request's queue (so
    the queues requests carry are learned); `request_waits`: one of those asks the estimated
    wait; `contact_agents`: an option filters a contact's agents (learned likewise)."""

    queues: frozenset[str] = frozenset()
    wait_queues: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    request_queues: bool = False
    request_waits: bool = False
    contact_agents: bool = False

    def plan(
        self, learned_queues: Iterable[str], learned_agents: Iterable[str]
    ) -> tuple[list[str], list[str], list[str]]:
        """(queues to observe, queues whose wait to estimate, agents to read), bounded."""
        learned = [q for q in learned_queues if is_genesys_id(q)] if self.request_queues else []
        queues = list(dict.fromkeys([*sorted(self.queues), *learned]))[:MAX_QUEUES]
        asked = set(learned) if self.request_waits else set()
        waits = [q for q in queues if q in self.wait_queues or q in asked]
        extra = [a for a in learned_agents if is_genesys_id(a)] if self.contact_agents else []
        agents = list(dict.fromkeys([*sorted(self.agents), *extra]))[:MAX_AGENTS]
        return queues, waits, agents

    @property
    def anything(self) -> bool:
        return bool(self.queues or self.agents or self.request_queues or self.contact_agents)


def requests_per_poll(queues: int, waits: int, agents: int) -> int:
    return math.ceil(queues / BATCH) + waits + math.ceil(agents / BATCH)


def _conditions(conditions: Iterable[Condition]) -> Iterator[Condition]:
    for condition in conditions:
        yield condition
        if isinstance(condition, Not):
            yield from _conditions(condition.inner)


def live_wants(rules: RuleSet) -> LiveWants:
    """Walks the compiled rules for `queue_load` conditions and `agents_on_queue_only` actions."""
    queues: set[str] = set()
    waits: set[str] = set()
    agents: set[str] = set()
    request_queues = request_waits = contact_agents = False
    actions: list[Action] = list(rules.defaults)
    for rule in rules.rules:
        actions += rule.actions
        for condition in _conditions(rule.conditions):
            if not isinstance(condition, QueueLoadCondition):
                continue
            wants_wait = "estimated_wait" in condition.measures
            if condition.queue:
                queues.add(condition.queue)
                if wants_wait:
                    waits.add(condition.queue)
            else:
                request_queues = True
                request_waits = request_waits or wants_wait
    for action in actions:
        if isinstance(action, OnQueueAgents):
            items: tuple[object, ...] = action.inner.items
        elif isinstance(action, OnQueueOwner):
            items = (action.inner.value,)
        else:
            continue
        for item in items:
            if isinstance(item, ContactList):
                contact_agents = True
            elif isinstance(item, str):
                agents.add(item)
    return LiveWants(
        frozenset(queues),
        frozenset(waits),
        frozenset(agents),
        request_queues,
        request_waits,
        contact_agents,
    )


def _observation_query(queues: list[str]) -> dict[str, Any]:
    predicates = [
        {"type": "dimension", "dimension": "queueId", "operator": "matches", "value": q}
        for q in queues
    ]
    return {"filter": {"type": "or", "predicates": predicates}, "metrics": METRICS}


def _count(datum: dict[str, Any]) -> int:
    stats = datum.get("stats")
    count = stats.get("count") if isinstance(stats, dict) else None
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else 0


async def read_queue_loads(
    api: GenesysApi, queues: list[str], waits: list[str], read_at: float
) -> dict[str, QueueLoad]:
    """Each queue's load. A queue the answer says nothing of has none of the metrics: Genesys
    leaves zero counts out (I), so it reads as zero. Raises GenesysError."""
    totals = {q: {"waiting": 0, "interacting": 0, "on_queue": 0, "idle": 0} for q in queues}
    for start in range(0, len(queues), BATCH):
        answer = await api.post(OBSERVATIONS, _observation_query(queues[start : start + BATCH]))
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list):
            raise GenesysError(f"{OBSERVATIONS}: no results in the answer")
        for result in results:
            group = result.get("group") if isinstance(result, dict) else None
            queue = group.get("queueId") if isinstance(group, dict) else None
            if queue not in totals:
                continue
            for datum in result.get("data") or []:
                if not isinstance(datum, dict):
                    continue
                metric, count = datum.get("metric"), _count(datum)
                if metric == "oWaiting":
                    totals[queue]["waiting"] += count
                elif metric == "oInteracting":
                    totals[queue]["interacting"] += count
                elif metric == "oOnQueueUsers":
                    totals[queue]["on_queue"] += count
                    if datum.get("qualifier") == "IDLE":
                        totals[queue]["idle"] += count
    estimated = {q: await read_estimated_wait(api, q) for q in waits}
    return {
        q: QueueLoad(
            waiting=t["waiting"],
            interacting=t["interacting"],
            agents_on_queue=t["on_queue"],
            agents_idle=t["idle"],
            estimated_wait=estimated.get(q),
            read_at=read_at,
        )
        for q, t in totals.items()
    }


async def read_estimated_wait(api: GenesysApi, queue: str) -> int | None:
    """The callback estimate (section 7.2): the CALLBACK intent's, else the first one given."""
    answer = await api.get(f"/api/v2/routing/queues/{queue}/mediatypes/callback/estimatedwaittime")
    results = answer.get("results") if isinstance(answer, dict) else None
    if not isinstance(results, list):
        return None
    ranked = sorted(
        (r for r in results if isinstance(r, dict)), key=lambda r: r.get("intent") != "CALLBACK"
    )
    for result in ranked:
        seconds = result.get("estimatedWaitTimeSeconds")
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
            return int(seconds)
    return None


async def read_routing_statuses(
    api: GenesysApi, agents: list[str], read_at: float
) -> tuple[dict[str, AgentStatus], dict[str, str]]:
    """Routing statuses, a hundred agents a request; and the agents that have none, with why
    (expand is best effort in Genesys; an inactive user is not listed)."""
    found: dict[str, AgentStatus] = {}
    for start in range(0, len(agents), BATCH):
        chunk = agents[start : start + BATCH]
        params = {"id": ",".join(chunk), "expand": "routingStatus"}
        async for page in api.listing("/api/v2/users", params, page_size=BATCH):
            for user in page:
                status = user.get("routingStatus")
                value = status.get("status") if isinstance(status, dict) else None
                if isinstance(value, str) and value and user.get("id") in chunk:
                    found[user["id"]] = AgentStatus(value, read_at)
    missing = {a: "Genesys gave no routing status" for a in agents if a not in found}
    return found, missing
