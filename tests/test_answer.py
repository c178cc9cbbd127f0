"""The answer check in process: every rule of the contract in contract/callback.py drops the field
that breaks it, with a reason, and keeps the rest of the answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.json_format import MessageToDict
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.v1.decision_pb2 import CallbackPatch, RoutingData
from facade.answer import answer_body, json_object
from facade.answer_check import enforce

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HORIZON = timedelta(days=30)
QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
OTHER_QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000002"
SKILL = "0b6f7a10-aaaa-4bbb-8ccc-000000000001"
AGENT = "7c1e2d3f-1111-4222-8333-000000000001"


def good_answer() -> dict:
    """An answer that keeps every rule, with every field we may send."""
    return {
        "scriptId": "3f2a1b0c-9d8e-4f7a-8b6c-000000000001",
        "queueId": QUEUE,
        "routingData": {
            "queueId": QUEUE,
            "languageId": "9e2d4c61-dddd-4eee-8fff-000000000001",
            "label": "gold",
            "priority": 25_000_000,
            "skillIds": [SKILL],
            "skillExpression": "english AND billing",
            "preferredAgentIds": [AGENT],
            "scoredAgents": [{"agent": {"id": AGENT}, "score": 100}],
            "routingFlags": ["AGENT_OWNED_CALLBACK"],
        },
        "callbackUserName": "Ada Lovelace",
        "callbackNumbers": ["+447400123456"],
        "callbackScheduledTime": "2026-11-25T09:30:00Z",
        "countryCode": "+44",
        "validateCallbackNumbers": True,
        "data": {"segment": "gold", "k" * 128: "v" * 1024},
        "callerId": "+442071234567",
        "callerIdName": "Acme Support",
        "customerFirstCallbackDeliveryMode": "UseAgentReservation",
    }


def test_an_answer_that_keeps_every_rule_is_left_whole():
    body = good_answer()
    assert enforce(body, NOW, HORIZON) == []
    assert body == good_answer()


BROKEN_TOP_LEVEL = [
    ("scriptId", "xxx"),
    ("queueId", "5a9d0c4e-1b2f-4c3d-8e5f-000000000001\n"),
    ("callbackUserName", ""),
    ("callbackUserName", "x" * 257),
    ("callbackNumbers", []),
    ("callbackNumbers", ["07400123456"]),
    ("callbackNumbers", "+447400123456"),
    ("countryCode", "44"),
    ("validateCallbackNumbers", "true"),
    ("data", {"segment": 5}),
    ("data", {"": "empty key"}),
    ("data", {"k" * 129: "v"}),
    ("data", {"long": "v" * 1025}),
    ("data", ["not", "an", "object"]),
    ("callerId", "+0123"),
    ("callerIdName", 7),
    ("customerFirstCallbackDeliveryMode", "Whenever"),
    ("callbackScheduledTime", "tomorrow"),
    ("callbackScheduledTime", "2026-11-25T09:30:00+01:00"),  # not UTC
    ("notAGenesysField", "x"),
]


@pytest.mark.parametrize(("field", "value"), BROKEN_TOP_LEVEL)
def test_a_field_that_breaks_its_rule_is_dropped_and_the_rest_kept(field, value):
    body = good_answer()
    body[field] = value
    if field == "queueId":
        del body["routingData"]  # only the queue's own rule is under test here
    dropped = enforce(body, NOW, HORIZON)
    assert [name for name, _ in dropped] == [field]
    assert dropped[0][1]  # a reason, for the log
    expected = good_answer()
    expected.pop(field, None)
    if field == "queueId":
        del expected["routingData"]
    assert body == expected


BROKEN_ROUTING = [
    ("languageId", "english"),
    ("label", ""),
    ("label", "x" * 257),
    ("priority", 25_000_001),
    ("priority", -25_000_001),
    ("priority", True),
    ("skillIds", ["english"]),
    ("skillExpression", "x" * 257),
    ("preferredAgentIds", [AGENT, "bob"]),
    ("scoredAgents", []),
    ("scoredAgents", [{"agent": {"id": AGENT}, "score": 101}]),
    ("scoredAgents", [{"agent": {"id": "bob"}, "score": 100}]),
    ("scoredAgents", [{"agent": {"id": AGENT}, "score": 1}] * 21),
    ("routingFlags", ["AGENT_OWNED"]),
    ("notARoutingField", 1),
]


@pytest.mark.parametrize(("field", "value"), BROKEN_ROUTING)
def test_a_routing_field_that_breaks_its_rule_is_dropped_from_routing_data_alone(field, value):
    body = good_answer()
    body["routingData"][field] = value
    dropped = enforce(body, NOW, HORIZON)
    assert [name for name, _ in dropped] == [f"routingData.{field}"]
    expected = good_answer()
    expected["routingData"].pop(field, None)
    assert body == expected


def test_reasons_name_the_nested_place_but_never_quote_the_value():
    body = good_answer()
    body["routingData"]["scoredAgents"] = [{"agent": {"id": "ada@example.com"}, "score": 100}]
    body["callbackUserName"] = "Ada " * 100
    reasons = dict(enforce(body, NOW, HORIZON))
    assert reasons["routingData.scoredAgents"].startswith("[0].agent.id: ")
    assert "ada@example.com" not in reasons["routingData.scoredAgents"]
    assert "Ada" not in reasons["callbackUserName"]


def test_several_broken_fields_are_each_dropped_and_named():
    body = good_answer()
    body["callerId"] = "07400 123456"
    body["routingData"]["priority"] = 30_000_000
    body["data"] = {"segment": None}
    dropped = enforce(body, NOW, HORIZON)
    assert sorted(name for name, _ in dropped) == ["callerId", "data", "routingData.priority"]
    assert body["routingData"]["skillIds"] == [SKILL]
    assert body["callbackNumbers"] == ["+447400123456"]


@pytest.mark.parametrize(
    ("routing", "reason"),
    [
        ({"skillIds": [SKILL]}, "routingData.queueId missing"),
        ({"queueId": "q1", "skillIds": [SKILL]}, "routingData.queueId: "),
        ({"queueId": OTHER_QUEUE, "skillIds": [SKILL]}, "routingData.queueId differs"),
        ("a string", "not an object"),
    ],
)
def test_routing_data_without_its_own_valid_matching_queue_is_dropped_whole(routing, reason):
    body = {"queueId": QUEUE, "routingData": routing}
    dropped = enforce(body, NOW, HORIZON)
    assert len(dropped) == 1
    name, why = dropped[0]
    assert (name, why[: len(reason)]) == ("routingData", reason)
    assert body == {"queueId": QUEUE}


def test_routing_data_needs_no_top_level_queue_to_match():
    body = {"routingData": {"queueId": OTHER_QUEUE, "priority": 5}}
    assert enforce(body, NOW, HORIZON) == []
    assert body == {"routingData": {"queueId": OTHER_QUEUE, "priority": 5}}


def test_a_broken_routing_field_goes_before_the_queue_decides_the_whole():
    body = {"routingData": {"queueId": "q1", "label": ""}}
    dropped = enforce(body, NOW, HORIZON)
    assert [name for name, _ in dropped] == ["routingData.label", "routingData"]
    assert body == {}


@pytest.mark.parametrize(
    ("at", "reason"),
    [
        ("2026-11-24T12:00:00Z", "in the past"),  # now is not the future
        ("2026-11-24T11:59:59Z", "in the past"),
        ("2026-12-24T12:00:01Z", "beyond the scheduling horizon"),
    ],
)
def test_scheduled_time_must_be_in_the_future_within_the_horizon(at, reason):
    body = {"queueId": QUEUE, "callbackScheduledTime": at}
    assert enforce(body, NOW, HORIZON) == [("callbackScheduledTime", reason)]
    assert body == {"queueId": QUEUE}


@pytest.mark.parametrize("at", ["2026-11-24T12:00:01Z", "2026-12-24T12:00:00Z"])
def test_scheduled_time_at_the_edges_of_the_window_is_kept(at):
    body = {"callbackScheduledTime": at}
    assert enforce(body, NOW, HORIZON) == []
    assert body == {"callbackScheduledTime": at}


def test_the_injected_now_decides_what_is_past():
    body = {"callbackScheduledTime": "2026-11-25T09:30:00Z"}
    later = NOW + timedelta(days=1)
    assert enforce(dict(body), NOW, HORIZON) == []
    assert enforce(dict(body), later, HORIZON) == [("callbackScheduledTime", "in the past")]


def test_answer_body_strips_protected_data_keys_and_checks_the_rest():
    patch = CallbackPatch(
        queue_id=QUEUE,
        routing_data=RoutingData(queue_id=QUEUE, priority=30_000_000, skill_ids=[SKILL]),
        data={"visitorId": "x", "te_channel": "y", "segment": "gold"},
    )
    body, dropped = answer_body(patch, NOW, HORIZON)
    assert body == {
        "queueId": QUEUE,
        "routingData": {"queueId": QUEUE, "skillIds": [SKILL]},
        "data": {"segment": "gold"},
    }
    assert [name for name, _ in dropped] == ["routingData.priority"]


def test_answer_body_drops_data_left_empty_by_the_protected_keys():
    body, dropped = answer_body(CallbackPatch(data={"visitorId": "x"}), NOW, HORIZON)
    assert (body, dropped) == ({}, [])


def test_the_contract_refuses_protected_keys_even_if_they_reach_the_check():
    body = {"data": {"visitorId": "x", "segment": "gold"}}
    assert [name for name, _ in enforce(body, NOW, HORIZON)] == ["data"]


_TEXT = st.text(max_size=8)
_INT32 = st.integers(-(2**31), 2**31 - 1)


@st.composite
def patches(draw: st.DrawFn) -> CallbackPatch:
    """Any CallbackPatch: every field set or not, defaults and extremes included."""
    patch = CallbackPatch()
    for name in (
        "script_id",
        "queue_id",
        "callback_user_name",
        "country_code",
        "caller_id",
        "caller_id_name",
        "customer_first_callback_delivery_mode",
    ):
        if draw(st.booleans()):
            setattr(patch, name, draw(_TEXT))
    if draw(st.booleans()):
        patch.validate_callback_numbers = draw(st.booleans())
    patch.callback_numbers.extend(draw(st.lists(_TEXT, max_size=3)))
    patch.data.update(draw(st.dictionaries(_TEXT, _TEXT, max_size=3)))
    if draw(st.booleans()):
        patch.callback_scheduled_time.FromNanoseconds(
            draw(st.integers(0, 253402300799)) * 10**9 + draw(st.integers(0, 10**9 - 1))
        )
    if draw(st.booleans()):
        routing = patch.routing_data
        for name in ("queue_id", "language_id", "label", "skill_expression"):
            if draw(st.booleans()):
                setattr(routing, name, draw(_TEXT))
        if draw(st.booleans()):
            routing.priority = draw(_INT32)
        for name in ("skill_ids", "preferred_agent_ids", "routing_flags"):
            getattr(routing, name).extend(draw(st.lists(_TEXT, max_size=3)))
        for _ in range(draw(st.integers(0, 2))):
            scored = routing.scored_agents.add()
            if draw(st.booleans()):
                scored.agent.id = draw(_TEXT)
            if draw(st.booleans()):
                scored.score = draw(_INT32)
    return patch


@settings(max_examples=300, deadline=None)
@given(patches())
def test_the_direct_json_form_is_exactly_message_to_dict(patch):
    assert json_object(patch) == MessageToDict(patch)
