"""The live Genesys state while the services run (issue 20): the loopback stand-in serves queue
observations, estimated waits and routing statuses that each test changes; the poller
(`decision serve --genesys-live`) reads them in the background and TrueEngage's answers follow
from the next poll on. Polls are driven by the test (`poller.poll()`) and the provider's clock is
the test's, so staleness is a step of that clock, never a sleep. Genesys failing (stopped, 429,
an expired token) never costs an answer."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2, decision_pb2_grpc
from decision.engine.live import LIVE
from decision.genesys.api import Credentials, GenesysApi
from decision.genesys.live_poller import HEALTH_NAME, LIVE_UP, LivePoller
from decision.genesys.live_reads import OBSERVATIONS
from tests import genesys_org as org
from tests.conftest import (
    Webhook,
    background_load,
    facade_settings,
    start_decision,
    wait_until,
)
from tests.genesys_standin import GenesysStandin
from tests.in_process import EventLoopThread, InProcessDecision, InProcessFacade

RULES = f"""
version = 1
[names.queues]
support-en = "{org.QUEUE_EN}"
overflow = "{org.QUEUE_FR}"
[names.agents]
ana = "{org.ANA}"
bo = "{org.BO}"

[[rules]]
name = "overflow"
when = {{ queue_load = {{ queue = "support-en", waiting = {{ above = 5 }} }} }}
then = {{ queue = "overflow" }}

[[rules]]
name = "uk"
when = {{ region = "GB" }}
then = {{ queue = "support-en", preferred_agents = ["ana", "bo"], agents_on_queue_only = true }}
"""
CALLER = {"phoneNumber": "07400123456", "countryCode": "+44", "widgetId": "1"}
WAITS = f"/api/v2/routing/queues/{org.QUEUE_EN}/mediatypes/callback/estimatedwaittime"


@dataclass
class Live:
    standin: GenesysStandin
    poller: LivePoller
    webhook: Webhook
    services: EventLoopThread
    clock: list[float]
    waits: list[float]  # what the Genesys client was told to wait (Retry-After)
    decision_target: str

    def decide(self) -> decision_pb2.DecideResponse:
        """A Decide over gRPC, as the facade asks it: the reply carries the facts."""
        with BlockingDecisionClient(self.decision_target, timeout=5) as client:
            return client.decide(
                decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
            )

    def poll(self) -> bool:
        return self.services.run(self.poller.poll())

    def answer(self) -> dict:
        reply = self.webhook.post(CALLER)
        assert reply.status == 200
        return reply.body

    def waiting(self, count: int) -> None:
        self.standin.set_observation(org.QUEUE_EN, "oWaiting", count, media_type="callback")


@pytest.fixture
def live(tmp_path: Path, services: EventLoopThread) -> Iterator[Live]:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    clock = [1000.0]
    waits: list[float] = []

    client_clock = [0.0]  # the Genesys client's own: its waits move it, nothing else does

    async def told_to_wait(seconds: float) -> None:
        waits.append(seconds)
        client_clock[0] += seconds

    with GenesysStandin() as standin:
        standin.set_routing_status(org.BO, "IDLE", "2026-11-24T15:02:11.512Z")
        credentials = Credentials(standin.client_id, standin.client_secret)

        def make_api() -> tuple[GenesysApi, str]:
            api = GenesysApi(
                standin.api_url,
                standin.login_url,
                credentials,
                rate=0,
                sleep=told_to_wait,
                clock=lambda: client_clock[0],
            )
            return api, "loopback"

        with InProcessDecision(services, rules) as decision:
            poller = LivePoller(decision.servicer.rules, 10, make_api, clock=lambda: clock[0])
            decision.servicer.providers[LIVE] = poller
            facade = InProcessFacade(services, facade_settings(f"127.0.0.1:{decision.port}"))
            try:
                target = f"127.0.0.1:{decision.port}"
                state = Live(standin, poller, Webhook(facade.port), services, clock, waits, target)
                state.waiting(2)
                yield state
            finally:
                facade.stop()
                services.run(poller.stop())


def test_waiting_going_from_2_to_9_moves_the_next_poll_s_decisions_to_overflow(live):
    assert live.poll()
    assert live.answer()["queueId"] == org.QUEUE_EN
    live.waiting(9)
    assert live.answer()["queueId"] == org.QUEUE_EN  # the request path never asks Genesys
    assert live.poll()
    assert live.answer()["queueId"] == org.QUEUE_FR
    live.waiting(3)
    assert live.poll()
    assert live.answer()["queueId"] == org.QUEUE_EN


def test_an_agent_going_off_queue_drops_out_of_the_preferred_agents(live):
    assert live.poll()
    assert live.answer()["routingData"]["preferredAgentIds"] == [org.ANA, org.BO]
    live.standin.set_routing_status(org.ANA, "OFF_QUEUE", "2026-11-24T16:00:00.000Z")
    assert live.poll()
    assert live.answer()["routingData"]["preferredAgentIds"] == [org.BO]
    live.standin.set_routing_status(org.BO, "OFF_QUEUE", "2026-11-24T16:00:00.000Z")
    assert live.poll()
    answer = live.answer()
    assert "preferredAgentIds" not in answer.get("routingData", {})  # the rest stands
    assert answer["queueId"] == org.QUEUE_EN


def test_the_reply_says_what_each_decision_read_and_how_old_it_was(live):
    assert live.poll()
    live.clock[0] += 4
    reply = live.decide()
    (queue,) = reply.facts.live_queues
    assert (queue.queue_id, queue.known, queue.waiting, queue.agents_idle) == (
        org.QUEUE_EN,
        True,
        2,
        3,
    )
    assert queue.age_seconds == 4
    assert [(a.agent_id, a.routing_status) for a in reply.facts.live_agents] == [
        (org.ANA, "IDLE"),
        (org.BO, "IDLE"),
    ]


def test_genesys_stopping_past_the_stale_limit_falls_back_with_200s_throughout(live, caplog):
    live.waiting(9)
    assert live.poll()
    assert live.answer()["queueId"] == org.QUEUE_FR
    changes: list[bool] = []
    live.poller.health.watch(changes.append)
    live.standin.stop_answering()
    with (
        background_load(live.webhook, threads=2) as replies,
        caplog.at_level(logging.INFO, logger="decision.genesys"),
    ):
        for _ in range(3):
            assert not live.poll()
            assert live.answer()["queueId"] == org.QUEUE_FR  # within the limit: the last state
        assert changes == [False]
        assert LIVE_UP.labels(str(live.poller.rules.path))._value.get() == 0
        failed = [r for r in caplog.records if r.name == "decision.genesys"]
        assert len(failed) == 1  # one line per change of state, not per failure
        assert "live state not read" in failed[0].getMessage()
        live.clock[0] += 31  # past 3 x the 10 s interval
        answer = live.answer()
        assert answer["queueId"] == org.QUEUE_EN  # queue_load unknown: does not match
        assert answer["routingData"]["preferredAgentIds"] == [org.ANA, org.BO]  # all kept
        live.standin.answer_again()
        assert live.poll()
    assert changes == [False, True]
    assert replies
    assert {r.status for r in replies} == {200}  # TrueEngage saw no failure throughout
    assert [r.getMessage() for r in caplog.records if r.name == "decision.genesys"][-1] == (
        "live state read again"
    )
    assert live.answer()["queueId"] == org.QUEUE_FR


def test_stale_agents_are_kept_each_with_a_note(live):
    assert live.poll()
    live.standin.set_routing_status(org.ANA, "OFF_QUEUE", "2026-11-24T16:00:00.000Z")
    live.standin.inject(503, times=None)
    assert not live.poll()
    live.clock[0] += 31
    reply = live.decide()
    assert list(reply.patch.routing_data.preferred_agent_ids) == [org.ANA, org.BO]
    assert [n for n in reply.notes if "kept" in n] == [
        f"preferred_agents: ana ({org.ANA}) kept: routing status unknown (stale)",
        f"preferred_agents: bo ({org.BO}) kept: routing status unknown (stale)",
    ]
    assert [(a.known, a.unknown) for a in reply.facts.live_agents] == [
        (False, "stale: read 31 s ago (limit 30 s)"),
        (False, "stale: read 31 s ago (limit 30 s)"),
    ]


def test_a_429_with_retry_after_and_an_expired_token_are_survived(live):
    assert live.poll()
    live.standin.throttle(times=1, retry_after=7, path=OBSERVATIONS)
    live.waiting(9)
    assert live.poll()
    assert live.waits == [7]  # waited as told, then asked again
    assert live.answer()["queueId"] == org.QUEUE_FR
    live.standin.advance(live.standin.expires_in + 1)  # the token expires in Genesys' eyes
    live.waiting(1)
    assert live.poll()
    assert len(live.standin.tokens) == 2  # a new one, asked for once
    assert live.answer()["queueId"] == org.QUEUE_EN
    assert live.poller.health.ok


def test_a_retry_after_beyond_the_stale_limit_fails_the_poll_at_once_and_is_honoured(live):
    assert live.poll()
    live.standin.throttle(times=1, retry_after=600, path=OBSERVATIONS)
    assert not live.poll()  # not held for 10 minutes while its state goes stale
    assert not live.poller.health.ok
    assert "asks to wait 600 s (429); not waited for" in live.poller.last_error
    assert live.waits == []
    assert live.poll()  # the next poll waits what is left of the 600 s first
    assert live.waits == [600]
    assert live.poller.health.ok


def test_one_poll_reads_only_what_the_rules_mention_in_bulk(live, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        RULES + '[[rules]]\nname = "slow-fr"\nwhen = { queue_load = { queue = "overflow", '
        'estimated_wait = { above = "10m" } } }\nthen = { priority = 1 }\n'
    )
    assert live.services.run(live.poller.rules.reload())
    assert live.poll()
    observations = live.standin.calls_to(OBSERVATIONS, "POST")
    assert len(observations) == 1
    predicates = observations[0].body["filter"]["predicates"]
    assert sorted(p["value"] for p in predicates) == sorted([org.QUEUE_EN, org.QUEUE_FR])
    fr_waits = WAITS.replace(org.QUEUE_EN, org.QUEUE_FR)
    assert len(live.standin.calls_to(fr_waits)) == 1  # asked by a rule
    assert live.standin.calls_to(WAITS) == []  # asked by none
    (users,) = live.standin.calls_to("/api/v2/users")
    assert sorted(users.query["id"][0].split(",")) == sorted([org.ANA, org.BO])
    assert users.query["expand"] == ["routingStatus"]
    assert live.poller.last_requests == 3
    # 3 requests every 10 s is 18 a minute: inside the default budget of 20; at 12 the poller
    # stretches its interval to 15 s.
    assert live.poller.next_delay() == 10
    assert live.poller.stale_after == 30
    live.poller.budget = 12
    assert live.poller.next_delay() == 15
    # Three periods of the stretched poller, not of the interval asked for: its own readings
    # were "stale" between polls (new-user round 2: 7 of 12 answers).
    assert live.poller.stale_after == 45
    live.poller.stale_after_given = 20  # --genesys-stale-after wins when given
    assert live.poller.stale_after == 20


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--genesys-poll-interval", "0.5"], "--genesys-poll-interval: at least 1 s"),
        (["--genesys-stale-after", "5"], "--genesys-stale-after: at least the poll interval"),
        (["--genesys-live-budget", "0"], "--genesys-live-budget: more than 0"),
    ],
)
def test_serve_refuses_live_settings_that_cannot_work(tmp_path, flags, problem):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    env = {**os.environ, "GENESYS_CLIENT_ID": "id", "GENESYS_CLIENT_SECRET": "secret"}
    env["GENESYS_REGION"] = "eu_west_1"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "decision",
            "serve",
            "--rules",
            str(rules),
            "--genesys-live",
            *flags,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"decision: {problem}")
    assert "secret" not in done.stderr


def test_decision_serve_genesys_live_polls_in_the_background(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    with GenesysStandin() as standin:
        standin.set_observation(org.QUEUE_EN, "oWaiting", 9, media_type="callback")
        service = start_decision(
            rules, "--genesys-live", "--genesys-poll-interval", "1", env=standin.env()
        )
        target = f"127.0.0.1:{service.port}"
        try:
            with BlockingDecisionClient(target, timeout=5) as client:
                request = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
                # The first poll runs at start; its answer lands when the state is swapped.
                wait_until(
                    lambda: client.decide(request).patch.queue_id == org.QUEUE_FR, "first poll"
                )
            with grpc.insecure_channel(target) as channel:
                health = health_pb2_grpc.HealthStub(channel)
                reply = health.Check(health_pb2.HealthCheckRequest(service=HEALTH_NAME), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            service.stop()


def test_the_request_s_queue_is_learned_and_read_from_the_next_poll_on(live, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(
        RULES.replace('queue = "support-en", waiting', "waiting")  # the request's queue
    )
    assert live.services.run(live.poller.rules.reload())
    live.standin.set_observation(org.QUEUE_FR, "oWaiting", 7, media_type="callback")
    asking = {**CALLER, "queueId": org.QUEUE_FR}
    assert live.poll()  # the rules name no queue of their own yet: agents only
    assert live.webhook.post(asking).body["queueId"] == org.QUEUE_EN  # not read yet: unknown
    assert live.poll()
    (observed,) = live.standin.calls_to(OBSERVATIONS, "POST")
    assert [p["value"] for p in observed.body["filter"]["predicates"]] == [org.QUEUE_FR]
    assert live.webhook.post(asking).body["queueId"] == org.QUEUE_FR  # 7 waiting: overflow


def test_explain_shows_the_live_state_a_decision_read(live):
    """The console's Try a caller asks Explain: its decision carries the same live facts."""
    live.waiting(9)
    assert live.poll()
    with grpc.insecure_channel(live.decision_target) as channel:
        stub = decision_pb2_grpc.DecisionServiceStub(channel)
        request = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
        explained = stub.Explain(request, timeout=5)
    assert explained.rules[0].name == "overflow"
    assert explained.rules[0].matched
    (queue,) = explained.decision.facts.live_queues
    assert (queue.queue_id, queue.known, queue.waiting) == (org.QUEUE_EN, True, 9)
