"""Each `then` action, the merge of several matching rules, defaults and schedules."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.json_format import MessageToDict

from decision.engine import CallbackRequest, Contact, explain
from tests.engine_helpers import (
    ALICE,
    BOB,
    ENGLISH,
    LANGUAGE_EN,
    MOBILE,
    PREMIUM,
    UK_MOBILE,
    UK_QUEUE,
    US_NUMBER,
    answer,
    decide,
    matched,
    rules,
)


def one_rule(then: str, when: str = "{}"):
    return rules(f'[[rules]]\nname = "r"\nwhen = {when}\nthen = {then}\n')


def test_every_action_maps_onto_its_genesys_field():
    ruleset = one_rule(
        '{ queue = "support-uk", skills = ["english", "premium"], language = "english", '
        'priority = -5, label = "vip", skill_expression = "english AND premium", '
        'script = "sales", callback_user_name = "Caller", caller_id = "+442071234567", '
        'caller_id_name = "Acme", validate_callback_numbers = false, '
        'customer_first_callback_delivery_mode = "UseAgentReservation", '
        'data = { segment = "gold" }, normalize_number = true, preferred_agents = ["bob"] }'
    )
    assert answer(ruleset, **UK_MOBILE) == {
        "scriptId": "3f1e2d3c-0000-4000-8000-000000000001",
        "queueId": UK_QUEUE,
        "routingData": {
            "queueId": UK_QUEUE,
            "languageId": LANGUAGE_EN,
            "label": "vip",
            "priority": -5,
            "skillIds": [ENGLISH, PREMIUM],
            "skillExpression": "english AND premium",
            "preferredAgentIds": [BOB],
        },
        "callbackUserName": "Caller",
        "callbackNumbers": ["+447400123456"],
        "countryCode": "+44",
        "validateCallbackNumbers": False,
        "data": {"segment": "gold"},
        "callerId": "+442071234567",
        "callerIdName": "Acme",
        "customerFirstCallbackDeliveryMode": "UseAgentReservation",
    }


def test_agent_owned_callback_has_one_scored_agent_and_the_flag():
    ruleset = one_rule('{ queue = "support-uk", agent_owned = "alice" }')
    assert answer(ruleset, **UK_MOBILE)["routingData"] == {
        "queueId": UK_QUEUE,
        "scoredAgents": [{"agent": {"id": ALICE}, "score": 100}],
        "routingFlags": ["AGENT_OWNED_CALLBACK"],
    }


def test_routing_data_takes_the_requests_queue_when_no_rule_decides_one():
    ruleset = one_rule('{ skills = ["english"] }')
    body = answer(ruleset, queue_id="q-from-trueengage", **UK_MOBILE)
    assert body == {"routingData": {"queueId": "q-from-trueengage", "skillIds": [ENGLISH]}}


def test_routing_data_without_any_queue_is_dropped_with_a_note():
    decision = decide(one_rule('{ skills = ["english"] }'), **UK_MOBILE)
    assert not decision.patch.HasField("routing_data")
    assert decision.notes == ["routingData dropped: no queue decided and none in the request"]


def test_ids_pass_through_without_names():
    ruleset = one_rule('{ queue = "11111111-2222-4333-8444-555555555555" }')
    assert answer(ruleset)["queueId"] == "11111111-2222-4333-8444-555555555555"


def test_first_match_decides_unless_it_continues():
    ruleset = rules(
        """
[[rules]]
name = "a"
when = { region = "GB" }
then = { priority = 1, skills = ["english"], data = { a = "1", shared = "a" } }
continue = true
[[rules]]
name = "b"
when = { number_type = "mobile" }
then = { priority = 2, queue = "support-uk", skills = ["mobile", "english"], data = { shared = "b", b = "2" } }
[[rules]]
name = "c"
then = { label = "never" }
"""
    )
    decision = decide(ruleset, **UK_MOBILE)
    assert decision.matched_rules == ["a", "b"]
    body = answer(ruleset, **UK_MOBILE)
    assert body["routingData"] == {
        "queueId": UK_QUEUE,
        "priority": 1,  # a scalar keeps the first rule's value
        "skillIds": [ENGLISH, MOBILE],  # lists are unioned in order
    }
    assert body["data"] == {"a": "1", "shared": "a", "b": "2"}
    assert matched(ruleset, **US_NUMBER) == ["c"]


def test_defaults_fill_what_no_rule_set():
    ruleset = rules(
        """
[defaults]
priority = 5
label = "default"
data = { routed_by = "callback-router", segment = "none" }
[[rules]]
name = "gb"
when = { region = "GB" }
then = { queue = "support-uk", priority = 50, data = { segment = "uk" } }
"""
    )
    assert answer(ruleset, **UK_MOBILE) == {
        "queueId": UK_QUEUE,
        "routingData": {"queueId": UK_QUEUE, "priority": 50, "label": "default"},
        "data": {"segment": "uk", "routed_by": "callback-router"},
    }
    # No rule matched: only the defaults (routingData needs the request's queue).
    assert answer(ruleset, queue_id="q", **US_NUMBER) == {
        "routingData": {"queueId": "q", "priority": 5, "label": "default"},
        "data": {"routed_by": "callback-router", "segment": "none"},
    }


def test_no_rules_no_defaults_is_the_empty_patch():
    assert answer(rules(""), **UK_MOBILE) == {}


def test_contact_references():
    ruleset = rules(
        """
[[rules]]
name = "vip"
when = { contact.tier = "vip" }
then = { queue = "support-uk", preferred_agents = ["@contact", "bob"], skills = ["@contact.skills"], language = "@contact.language", callback_user_name = "@contact.name", data = { account = "@contact.account" } }
"""
    )
    contact = Contact(
        name="Ada",
        tier="vip",
        language="english",
        preferred_agents=("alice", "nobody"),
        skills=("premium",),
        attributes={"account": "A-1"},
    )
    decision = decide(ruleset, contact=contact, **UK_MOBILE)
    body = answer(ruleset, contact=contact, **UK_MOBILE)
    assert body["routingData"] == {
        "queueId": UK_QUEUE,
        "languageId": LANGUAGE_EN,
        "skillIds": [PREMIUM],
        "preferredAgentIds": [ALICE, BOB],
    }
    assert body["callbackUserName"] == "Ada"
    assert body["data"] == {"account": "A-1"}
    assert decision.notes == ["preferred_agents: unknown agent 'nobody' in contact"]


def test_agent_owned_by_the_contacts_agent():
    ruleset = one_rule('{ queue = "support-uk", agent_owned = "@contact" }')
    body = answer(ruleset, contact=Contact(preferred_agents=("bob",)), **UK_MOBILE)
    assert body["routingData"]["scoredAgents"] == [{"agent": {"id": BOB}, "score": 100}]
    # Unknown caller: the queue alone, no owner.
    assert answer(ruleset, **UK_MOBILE) == {"queueId": UK_QUEUE}


def test_missing_contact_value_leaves_the_field_to_later_rules():
    ruleset = rules(
        """
[[rules]]
name = "named"
then = { callback_user_name = "@contact.name" }
continue = true
[[rules]]
name = "fallback"
then = { callback_user_name = "Valued customer" }
"""
    )
    assert answer(ruleset, **UK_MOBILE)["callbackUserName"] == "Valued customer"
    assert answer(ruleset, contact=Contact(name="Ada"), **UK_MOBILE)["callbackUserName"] == "Ada"


def test_normalize_number_skips_invalid_numbers():
    decision = decide(one_rule("{ normalize_number = true }"), phone_number="123")
    assert list(decision.patch.callback_numbers) == []
    assert decision.notes == ["normalize_number skipped: the number is not valid"]


def test_schedule_next_opening_in_the_callers_zone():
    ruleset = one_rule('{ schedule = "next mon-fri 09:00-17:00" }')
    friday_evening_ny = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # 18:00 EST
    assert answer(ruleset, friday_evening_ny, **US_NUMBER) == {
        "callbackScheduledTime": "2026-11-30T14:00:00Z"  # Monday 09:00 EST
    }


def test_schedule_while_open_calls_back_now():
    ruleset = one_rule('{ schedule = "next mon-fri 09:00-17:00" }')
    decision = decide(ruleset, datetime(2026, 11, 24, 15, 0, tzinfo=UTC), **US_NUMBER)
    assert not decision.patch.HasField("callback_scheduled_time")
    assert decision.notes == ["schedule: the window is open now, so the callback is not delayed"]


def test_schedule_across_a_dst_change_keeps_the_wall_clock():
    # Saturday 28 March 2026, 18:00 in London (GMT). Next opening: Monday 30 March 09:00 BST.
    ruleset = one_rule('{ schedule = "next mon-fri 09:00-17:00" }')
    body = answer(ruleset, datetime(2026, 3, 28, 18, 0, tzinfo=UTC), **UK_MOBILE)
    assert body == {"callbackScheduledTime": "2026-03-30T08:00:00Z"}


def test_schedule_with_its_own_zone_and_delays():
    zoned = one_rule('{ schedule = { next = "mon 08:00-09:00", timezone = "Asia/Tokyo" } }')
    assert answer(zoned, **UK_MOBILE) == {"callbackScheduledTime": "2026-11-29T23:00:00Z"}
    at = datetime(2026, 11, 24, 12, 0, 0, 250_000, tzinfo=UTC)
    assert answer(one_rule('{ schedule = "+30m" }'), at) == {
        "callbackScheduledTime": "2026-11-24T12:30:01Z"
    }
    assert answer(one_rule('{ schedule = "+2h" }')) == {
        "callbackScheduledTime": "2026-11-24T14:00:00Z"
    }
    assert answer(one_rule('{ schedule = "+1d" }')) == {
        "callbackScheduledTime": "2026-11-25T12:00:00Z"
    }


def test_schedule_beyond_the_horizon_is_dropped():
    """A next opening past the horizon (a delay past it is refused at load)."""
    ruleset = rules(
        '[defaults]\nschedule_horizon_days = 1\n[[rules]]\nname = "r"\n'
        'then = { schedule = "next mon 09:00-10:00" }\n'
    )
    decision = decide(ruleset, **UK_MOBILE)
    assert not decision.patch.HasField("callback_scheduled_time")
    assert decision.notes[0].startswith("schedule dropped:")


def test_explain_agrees_with_decide_and_says_why():
    ruleset = rules(
        """
[[rules]]
name = "us"
when = { region = "US" }
then = { queue = "support-us" }
[[rules]]
name = "mobile"
when = { region = "GB", number_type = "fixed_line" }
then = { queue = "support-uk" }
[[rules]]
name = "gb"
when = { region = "GB" }
then = { queue = "support-uk" }
[[rules]]
name = "late"
then = { label = "x" }
"""
    )
    request = CallbackRequest(**UK_MOBILE)
    at = datetime(2026, 11, 24, tzinfo=UTC)
    explained = explain(ruleset, request, at)
    assert explained.patch == MessageToDict(ruleset.decide(request, at).patch)
    assert [(r.name, r.outcome, r.failed) for r in explained.rules] == [
        ("us", "not matched", "region"),
        ("mobile", "not matched", "number_type"),
        ("gb", "matched", None),
        ("late", "not tried", None),
    ]
    assert explained.facts["region"] == "GB"
    assert explained.patch["queueId"] == UK_QUEUE


def test_kept_fixed_parts_never_mix_callers():
    ruleset = rules(
        """
[[rules]]
name = "uk"
when = { region = "GB" }
then = { skills = ["english"], normalize_number = true, schedule = "+30m", label = "uk" }
"""
    )
    seen = []
    for phone, queue, minute in [
        ("07400111111", "q-a", 0),
        ("07400222222", "q-a", 5),  # same rules and queue: reuses the first one's fixed part
        ("07400333333", "q-b", 9),  # another queue: routingData falls back to it
        ("07400444444", "", 12),  # no queue at all: routingData dropped, with its note
    ]:
        at = datetime(2026, 11, 24, 12, minute, tzinfo=UTC)
        request = CallbackRequest(phone_number=phone, country_code="+44", queue_id=queue)
        decision = ruleset.decide(request, at)
        fresh = explain(ruleset, request, at)  # a traced decision keeps and reuses nothing
        assert MessageToDict(decision.patch) == fresh.patch
        assert decision.notes == fresh.notes
        seen.append(MessageToDict(decision.patch))
    assert [s["callbackNumbers"] for s in seen] == [
        ["+447400111111"],
        ["+447400222222"],
        ["+447400333333"],
        ["+447400444444"],
    ]
    assert [s["callbackScheduledTime"] for s in seen] == [
        "2026-11-24T12:30:00Z",
        "2026-11-24T12:35:00Z",
        "2026-11-24T12:39:00Z",
        "2026-11-24T12:42:00Z",
    ]
    assert [s.get("routingData", {}).get("queueId") for s in seen] == ["q-a", "q-a", "q-b", None]
    # The caller's own notes are the caller's: a valid number after an invalid one, same rules.
    everyone = one_rule("{ normalize_number = true }")
    at = datetime(2026, 11, 24, tzinfo=UTC)
    assert decide(everyone, at, phone_number="123").notes == [
        "normalize_number skipped: the number is not valid"
    ]
    assert decide(everyone, at, **UK_MOBILE).notes == []
