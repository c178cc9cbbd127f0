"""Each `when` condition, alone and combined, on the pure engine."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from decision.engine import Contact
from tests.engine_helpers import UK_MOBILE, US_NUMBER, decide, matched, rules


def one_rule(when: str):
    return rules(f'[[rules]]\nname = "r"\nwhen = {when}\nthen = {{ label = "x" }}\n')


@pytest.mark.parametrize(
    ("when", "request_fields", "expected"),
    [
        ('{ region = "GB" }', UK_MOBILE, True),
        ('{ region = ["US", "CA"] }', UK_MOBILE, False),
        ('{ region = ["us", "ca"] }', US_NUMBER, True),
        ('{ country_code = "+44" }', UK_MOBILE, True),
        ("{ country_code = [1, 33] }", UK_MOBILE, False),
        ('{ country_code = "0044" }', {"phone_number": "junk", "country_code": "44"}, True),
        ('{ prefix = "+4474" }', UK_MOBILE, True),
        ('{ prefix = ["+4420", "+1"] }', UK_MOBILE, False),
        ('{ number_type = "mobile" }', UK_MOBILE, True),
        ('{ number_type = ["fixed_line", "toll_free"] }', UK_MOBILE, False),
        ('{ number_type = "fixed_line_or_mobile" }', US_NUMBER, True),
        ("{ valid = true }", UK_MOBILE, True),
        ("{ valid = false }", {"phone_number": "123", "country_code": "+44"}, True),
        ('{ widget_id = ["123", "456"] }', {**UK_MOBILE, "widget_id": "456"}, True),
        ('{ widget_id = "123" }', {**UK_MOBILE, "widget_id": "9"}, False),
        ('{ queue_id = "support-uk" }', {"queue_id": "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"}, True),
        (
            '{ queue_id = "5a9d0c4e-1b2f-4c3d-8e5f-000000000002" }',
            {"queue_id": "5a9d0c4e-1b2f-4c3d-8e5f-000000000002"},
            True,
        ),
        ('{ script_id = "sales" }', {"script_id": "3f1e2d3c-0000-4000-8000-000000000001"}, True),
        ('{ script_id = "other-script" }', {"script_id": "other-script"}, True),
        ('{ schedule_group_id = "sg-1" }', {"schedule_group_id": "sg-2"}, False),
        ('{ attributes.lang = ["de", "at"] }', {"attributes": {"lang": "de"}}, True),
        ('{ "attributes.lang" = "de" }', {"attributes": {"lang": "de"}}, True),
        ('{ attributes.lang = "de" }', {"attributes": {}}, False),
        ('{ not = { region = "GB" } }', UK_MOBILE, False),
        ('{ not = { region = "GB", number_type = "fixed_line" } }', UK_MOBILE, True),
        ('{ region = "GB", number_type = "fixed_line" }', UK_MOBILE, False),
        ("{}", UK_MOBILE, True),
        ("{ contact.known = false }", UK_MOBILE, True),
    ],
)
def test_condition(when, request_fields, expected):
    assert (matched(one_rule(when), **request_fields) == ["r"]) is expected


def test_contact_conditions():
    ruleset = one_rule('{ contact.known = true, contact.tier = "vip", contact.segment = "b2b" }')
    vip = Contact(tier="vip", attributes={"segment": "b2b"})
    assert matched(ruleset, contact=vip, **UK_MOBILE) == ["r"]
    assert matched(ruleset, contact=Contact(tier="vip"), **UK_MOBILE) == []
    assert matched(ruleset, **UK_MOBILE) == []


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2026, 11, 24, 8, 59, tzinfo=UTC), False),  # London winter = UTC
        (datetime(2026, 11, 24, 9, 0, tzinfo=UTC), True),
        (datetime(2026, 11, 24, 16, 59, 59, tzinfo=UTC), True),
        (datetime(2026, 11, 24, 17, 0, tzinfo=UTC), False),
        (datetime(2026, 11, 28, 12, 0, tzinfo=UTC), False),  # Saturday
        (datetime(2026, 7, 14, 8, 30, tzinfo=UTC), True),  # 09:30 BST
        (datetime(2026, 7, 14, 16, 30, tzinfo=UTC), False),  # 17:30 BST
    ],
)
def test_local_time_in_the_callers_zone(at, expected):
    ruleset = one_rule('{ local_time = { in = "mon-fri 09:00-17:00" } }')
    assert (matched(ruleset, at, **UK_MOBILE) == ["r"]) is expected


def test_local_time_not_in_and_zone_override():
    not_in = one_rule('{ local_time = { not_in = "mon-fri 09:00-17:00" } }')
    assert matched(not_in, datetime(2026, 11, 24, 20, 0, tzinfo=UTC), **UK_MOBILE) == ["r"]
    tokyo = one_rule('{ local_time = { in = "tue 09:00-10:00", timezone = "Asia/Tokyo" } }')
    # 00:30 UTC is 09:30 in Tokyo on Tuesday, whatever the caller's zone.
    assert matched(tokyo, datetime(2026, 11, 24, 0, 30, tzinfo=UTC), **UK_MOBILE) == ["r"]


def test_local_time_of_a_us_number_uses_new_york():
    ruleset = one_rule('{ local_time = "mon-fri 09:00-17:00" }')
    assert matched(ruleset, datetime(2026, 11, 24, 14, 30, tzinfo=UTC), **US_NUMBER) == ["r"]
    assert matched(ruleset, datetime(2026, 11, 24, 13, 30, tzinfo=UTC), **US_NUMBER) == []


def test_toll_free_number_spanning_zones_uses_the_default_zone():
    ruleset = rules(
        '[defaults]\ntimezone = "America/Chicago"\n'
        '[[rules]]\nname = "r"\nwhen = { local_time = "tue 09:00-10:00" }\nthen = { label = "x" }\n'
    )
    at = datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
    decision = decide(ruleset, at, phone_number="8005550123", country_code="+1")
    assert decision.time_zone == "America/Chicago"
    assert decision.time_zone_source == "default: zones disagree"
    assert decision.matched_rules == ["r"]


def test_percent_is_a_stable_nested_split():
    ten = one_rule("{ percent = 10 }")
    thirty = one_rule("{ percent = 30 }")
    numbers = [f"+4474001{n:05d}" for n in range(2000)]
    in_ten = {n for n in numbers if matched(ten, phone_number=n) == ["r"]}
    in_thirty = {n for n in numbers if matched(thirty, phone_number=n) == ["r"]}
    assert 150 < len(in_ten) < 250
    assert 500 < len(in_thirty) < 700
    assert in_ten <= in_thirty
    assert in_ten == {n for n in numbers if matched(ten, phone_number=n) == ["r"]}
    assert matched(one_rule("{ percent = 0 }"), **UK_MOBILE) == []
    assert matched(one_rule("{ percent = 100 }"), **UK_MOBILE) == ["r"]
