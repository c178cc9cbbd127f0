"""The service's live Genesys state (`decision serve --genesys-live`): a background component that
polls what the live rules read (live_reads.py) every `--genesys-poll-interval` and swaps an
in-memory `LiveState` whole; the `LIVE` provider hands decisions a view of it, so the request path
only reads memory. Requests per poll are counted and the interval stretched to keep each replica
within `--genesys-live-budget` requests a minute. A failing poll keeps the last state (which goes
stale, then unknown), backs off, logs one line per change of state, and shows in its own gRPC
health (`callback-router.genesys-live`), `decision_genesys_live_up` and the state's age."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from contract.v1 import decision_pb2
from decision.engine import CallbackFields
from decision.engine.live import EMPTY, LIVE, Learned, LiveState, LiveView
from decision.genesys.api import GenesysApi, GenesysError
from decision.genesys.live_reads import (
    live_wants,
    read_queue_loads,
    read_routing_statuses,
    requests_per_poll,
)
from decision.rules.live import LiveRules
from plumbing.lifecycle import BackgroundTask, Health

log = logging.getLogger("decision.genesys")
HEALTH_NAME = "callback-router.genesys-live"
MAX_BACKOFF = 300.0
DEFAULT_BUDGET = 20.0  # requests a minute per replica: 10 replicas use 200 of the org's 300

# Labelled by the rules file, as decision_genesys_refresh_up: no sample on a service that does
# not poll, so an alert on 0 fires only where polling fails.
LIVE_UP = Gauge(
    "decision_genesys_live_up",
    "1 while polls of the live Genesys state succeed, 0 while they fail (no sample: no polling)",
    ["rules"],
)
LIVE_AGE = Gauge(
    "decision_genesys_live_age_seconds",
    "Seconds since the live state was last read, by part (NaN: never)",
    ["part"],
)
LIVE_REQUESTS = Counter(
    "decision_genesys_live_requests_total", "Requests the live-state poller made to Genesys"
)
LIVE_POLLS = Counter("decision_genesys_live_polls_total", "Live-state polls, by result", ["result"])


class LivePoller:
    """A background component and the `LIVE` fact provider. `poll()` is one poll, which tests
    call directly; `start` runs one at once and then one every interval."""

    name = "genesys live state"
    fact = LIVE
    instant = True  # provide() never waits: gather_facts need not make it a task

    def __init__(
        self,
        rules: LiveRules,
        interval: float,
        make_api: Callable[[], tuple[GenesysApi, str]],
        stale_after: float = 0.0,
        budget: float = DEFAULT_BUDGET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = rules
        self.interval = interval
        self.stale_after_given = stale_after  # 0: three poll periods, whatever they become
        self.period = interval  # between polls: the interval, or longer to fit the budget
        self.budget = budget
        self.make_api = make_api
        self.state: LiveState = EMPTY  # swapped whole by each poll, read by every decision
        self.learned = Learned()
        self.health: Health = Health(HEALTH_NAME, LIVE_UP.labels(str(rules.path)))
        self.last_error = ""
        self.failures = 0
        self.polls = 0
        self.last_requests = 0
        self.read_at: dict[str, float] = {}  # part -> when it was last read
        self._clock = clock
        self._api: GenesysApi | None = None
        self._task = BackgroundTask()
        self._told_stretch = 0.0
        self._told_nothing = False
        for part in ("queues", "agents"):
            LIVE_AGE.labels(part).set_function(self._age_of(part))

    @property
    def stale_after(self) -> float:
        """How old a reading may be and still count: --genesys-stale-after, else three poll
        periods (the period the budget stretched the interval to, not the interval asked for:
        otherwise a stretched poller would call its own readings stale between polls)."""
        return self.stale_after_given or 3 * self.period

    def _age_of(self, part: str) -> Callable[[], float]:
        def age() -> float:
            at = self.read_at.get(part)
            return math.nan if at is None else self._clock() - at

        return age

    # -- the provider ---------------------------------------------------------------------

    async def provide(self, request: CallbackFields, default_region: str) -> tuple[Any, str]:
        return LiveView(self.state, self._clock(), self.stale_after, self.learned), ""

    def describe(self, value: Any, facts: decision_pb2.CallerFacts) -> None:
        view: LiveView = value
        for queue_id, seen in view.queues_read.items():
            if isinstance(seen, str):
                facts.live_queues.add(queue_id=queue_id, unknown=seen)
                continue
            fact = facts.live_queues.add(
                queue_id=queue_id,
                known=True,
                waiting=seen.waiting,
                interacting=seen.interacting,
                agents_on_queue=seen.agents_on_queue,
                agents_idle=seen.agents_idle,
                age_seconds=round(view.age(seen), 3),
            )
            if seen.estimated_wait is not None:
                fact.estimated_wait_seconds = seen.estimated_wait
        for agent_id, status in view.agents_read.items():
            if isinstance(status, str):
                facts.live_agents.add(agent_id=agent_id, unknown=status)
            else:
                facts.live_agents.add(
                    agent_id=agent_id,
                    known=True,
                    routing_status=status.status,
                    age_seconds=round(view.age(status), 3),
                )

    # -- the component ----------------------------------------------------------------------

    async def start(self) -> None:
        self._task.start(self._run())

    async def stop(self) -> None:
        await self._task.stop()
        if self._api is not None:
            await self._api.close()

    def on_reload_signal(self) -> None:
        """Nothing: each poll reads the live rules afresh."""

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # a bug must not end the polling for the life of the process
                log.exception("live state poll failed unexpectedly")
            await asyncio.sleep(self.next_delay())

    def next_delay(self) -> float:
        """The interval, stretched to the budget; doubled per failure in a row, to 5 minutes."""
        fitted = max(self.interval, self.last_requests * 60.0 / self.budget)
        self.period = fitted
        if fitted > self.interval and fitted != self._told_stretch:
            log.warning(
                "live state: %d requests a poll would exceed --genesys-live-budget %g a minute "
                "at --genesys-poll-interval %g s: polling every %.1f s%s",
                self.last_requests,
                self.budget,
                self.interval,
                fitted,
                (
                    f"; --genesys-stale-after {self.stale_after_given:g} s is shorter, so "
                    "readings will count as unknown between polls"
                    if self.stale_after_given and self.stale_after_given < fitted
                    else ""
                ),
            )
            self._told_stretch = fitted
        if self.failures:
            return min(fitted * 2**self.failures, max(MAX_BACKOFF, fitted))
        return fitted

    async def poll(self) -> bool:
        """One poll of what the live rules read; True when everything asked was read."""
        wants = live_wants(self.rules.current)
        queues, waits, agents = wants.plan(self.learned.queues, self.learned.agents)
        self.last_requests = requests_per_poll(len(queues), len(waits), len(agents))
        if not (queues or agents):
            if not self._told_nothing:
                log.info(
                    "live state: the live rules read no queue or agent yet (queue_load, "
                    "agents_on_queue_only): nothing to poll"
                )
                self._told_nothing = True
            return True
        self._told_nothing = False
        try:
            if self._api is None:
                self._api, _ = self.make_api()
                self._api.timeout = max(1.0, min(10.0, self.interval))
                # A wait longer than the stale limit fails the poll at once (health degraded,
                # the state goes unknown) rather than holding it; the next poll waits the rest.
                self._api.max_retry_after = min(self._api.max_retry_after, self.stale_after)
        except ValueError as error:  # settings that make no client
            return self._failed(str(error))
        api = self._api
        before = api.requests
        errors: list[str] = []
        state = self.state
        queue_loads, agent_statuses = dict(state.queues), dict(state.agents)
        unknown = dict(state.unknown)
        if queues:
            try:
                read_at = self._clock()
                queue_loads.update(await read_queue_loads(api, queues, waits, read_at))
                self.read_at["queues"] = read_at
            except GenesysError as error:
                errors.append(str(error))
        if agents and not errors:  # failing Genesys is not asked again in the same poll
            try:
                read_at = self._clock()
                found, missing = await read_routing_statuses(api, agents, read_at)
                for agent in agents:
                    agent_statuses.pop(agent, None)
                    unknown.pop(agent, None)
                agent_statuses.update(found)
                unknown.update(missing)
                self.read_at["agents"] = read_at
            except GenesysError as error:
                errors.append(str(error))
        self.state = LiveState(queue_loads, agent_statuses, unknown)  # one swap
        LIVE_REQUESTS.inc(api.requests - before)
        self.polls += 1
        if errors:
            return self._failed("; ".join(errors))
        LIVE_POLLS.labels("ok").inc()
        if not self.health.ok:
            log.info("live state read again", extra={"after_failed_polls": self.failures})
        self.health.set(True)
        self.failures = 0
        self.last_error = ""
        return True

    def _failed(self, error: str) -> bool:
        LIVE_POLLS.labels("failed").inc()
        self.failures += 1
        if error != self.last_error:  # one line per change of state, not per failure
            log.warning(
                "live state not read, keeping the last (unknown once older than %g s): %s",
                self.stale_after,
                error,
            )
        self.last_error = error
        self.health.set(False)
        return False
