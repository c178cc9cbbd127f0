"""The facade answers in time whatever the decision service does, and never leaks
TrueEngage's own data keys."""

from __future__ import annotations

import time

import grpc
import pytest

from decision.v1 import decision_pb2
from tests.conftest import EXAMPLE_RULES, SEED, Webhook, start_decision, start_facade
from tests.scripted_decision import ScriptedServer

QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
DEADLINE_MS = 300
MARGIN_S = 0.25


@pytest.fixture
def scripted():
    server = ScriptedServer()
    yield server
    server.stop()


@pytest.fixture
def scripted_webhook(scripted):
    facade = start_facade(f"127.0.0.1:{scripted.port}", DEADLINE_MS)
    yield Webhook(facade.port)
    facade.stop()


def test_protected_data_keys_never_reach_the_answer(scripted, scripted_webhook):
    scripted.servicer.patch = decision_pb2.CallbackPatch(
        queue_id=QUEUE, data={"visitorId": "x", "te_channel": "y", "segment": "gold"}
    )
    reply = scripted_webhook.post(SEED)
    assert reply.body == {"queueId": QUEUE, "data": {"segment": "gold"}}
    scripted.servicer.patch = decision_pb2.CallbackPatch(data={"visitorId": "x"})
    assert scripted_webhook.post(SEED).body == {}


def test_extra_fields_travel_as_attributes_with_the_request_id(scripted, scripted_webhook):
    scripted_webhook.post(
        {**SEED, "language": "de", "score": 7, "vip": True, "tags": ["a"], "nothing": None},
        **{"X-Request-Id": "req-1"},
    )
    request = scripted.servicer.requests[-1]
    assert request.phone_number == "07400123456"
    assert request.widget_id == "123"
    assert dict(request.attributes) == {
        "language": "de",
        "score": "7",
        "vip": "true",
        "tags": '["a"]',
    }
    assert request.request_id == "req-1"
    assert scripted.servicer.metadata[-1]["x-request-id"] == "req-1"


def test_slow_decision_fails_open_within_the_deadline(scripted, scripted_webhook):
    scripted.servicer.delay = 2.0
    reply = scripted_webhook.post(SEED)
    assert (reply.status, reply.body) == (200, {})
    assert reply.seconds < DEADLINE_MS / 1000 + MARGIN_S


@pytest.mark.parametrize(
    "status",
    [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED],
)
def test_decision_errors_fail_open(scripted, scripted_webhook, status):
    scripted.servicer.status = status
    reply = scripted_webhook.post(SEED)
    assert (reply.status, reply.body) == (200, {})
    assert reply.seconds < DEADLINE_MS / 1000 + MARGIN_S


def test_decision_down_fails_open_and_recovers_after_restart():
    decision = start_decision(EXAMPLE_RULES)
    port = decision.port
    facade = start_facade(f"127.0.0.1:{port}", DEADLINE_MS)
    webhook = Webhook(facade.port)
    try:
        assert webhook.post(SEED).body["queueId"]
        decision.stop()
        for _ in range(3):
            reply = webhook.post(SEED)
            assert (reply.status, reply.body) == (200, {})
            assert reply.seconds < DEADLINE_MS / 1000 + MARGIN_S
        assert webhook.request("GET", "/readyz").status == 503

        decision = start_decision(EXAMPLE_RULES, port)
        deadline = time.monotonic() + 10
        while webhook.post(SEED).body == {} and time.monotonic() < deadline:
            time.sleep(0.1)
        assert webhook.post(SEED).body["queueId"] == "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
        assert webhook.request("GET", "/readyz").status == 200
    finally:
        facade.stop()
        decision.stop()
