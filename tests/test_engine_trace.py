"""`explain` is `decide` with a tracer: the same decision, every rule's fate, as plain data."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf.json_format import MessageToDict

from decision.engine import CONTACT, CallbackRequest, Contact, OutsideFacts, explain
from decision.engine.conditions import CONDITION_KINDS
from tests.engine_helpers import UK_MOBILE, UK_QUEUE, US_NUMBER, US_QUEUE, rules

# Indexed rules (widget, queue, region), unindexed ones (prefix, percent, contact, time) and a
# `continue`, so that a decision without a tracer skips rules a traced one tries.
MIXED = rules(
    """
[[rules]]
name = "vip"
when = { contact.tier = "vip" }
then = { priority = 10, callback_user_name = "@contact.name" }
continue = true
[[rules]]
name = "widget-7"
when = { widget_id = "7", number_type = "mobile" }
then = { queue = "support-us", skills = ["premium"] }
[[rules]]
name = "uk-queue"
when = { queue_id = "support-uk", region = "GB" }
then = { skills = ["english"], schedule = "+30m" }
continue = true
[[rules]]
name = "london"
when = { prefix = "+4420" }
then = { label = "london" }
[[rules]]
name = "gb-office-hours"
when = { region = "GB", local_time = "mon-fri 09:00-17:00" }
then = { queue = "support-uk", normalize_number = true }
[[rules]]
name = "us-half"
when = { country_code = 1, percent = 50 }
then = { queue = "support-us", data = { split = "a" } }
[[rules]]
name = "anyone"
when = { not = { valid = false } }
then = { label = "valid" }
"""
)


def test_a_traced_decision_is_the_same_decision():
    # The index and the kept patch parts are only shortcuts: trying every rule and building
    # every patch in full (what a tracer does) must decide exactly the same.
    numbers = [UK_MOBILE, US_NUMBER, {"phone_number": "02071234567", "country_code": "+44"}]
    numbers += [{"phone_number": f"20255501{n:02d}", "country_code": "+1"} for n in range(20)]
    numbers.append({"phone_number": "123", "country_code": "+44"})
    compared = 0
    for number in numbers:
        for widget in ("7", "8"):
            for queue in (UK_QUEUE, ""):
                for contact in (None, Contact(tier="vip", name="Ada")):
                    for hour in (3, 12):
                        at = datetime(2026, 11, 24, hour, tzinfo=UTC)
                        request = CallbackRequest(**number, widget_id=widget, queue_id=queue)
                        # Twice undisturbed, so the second decision reuses a kept part.
                        facts = OutsideFacts({CONTACT: contact})
                        MIXED.decide(request, at, facts)
                        decision = MIXED.decide(request, at, facts)
                        traced = explain(MIXED, request, at, facts)
                        assert traced.patch == MessageToDict(decision.patch)
                        assert traced.notes == decision.notes
                        assert [
                            r.name for r in traced.rules if r.outcome == "matched"
                        ] == decision.matched_rules
                        compared += 1
    assert compared == len(numbers) * 16


def test_a_tracer_hears_each_rule_tried_in_file_order_until_one_decides():
    heard: list[tuple[str, str | None]] = []

    class Listener:
        def rule_tried(self, rule, failed):
            heard.append((rule.name, failed.key if failed else None))

    request = CallbackRequest(**UK_MOBILE, widget_id="8", queue_id=UK_QUEUE)
    decision = MIXED.decide(request, datetime(2026, 11, 24, 12, tzinfo=UTC), tracer=Listener())
    assert heard == [
        ("vip", "contact.tier"),
        ("widget-7", "widget_id"),
        ("uk-queue", None),
        ("london", "prefix"),
        ("gb-office-hours", None),
    ]
    assert decision.matched_rules == ["uk-queue", "gb-office-hours"]


def test_an_explanation_is_plain_data():
    request = CallbackRequest(**US_NUMBER, widget_id="7")
    explained = explain(MIXED, request, datetime(2026, 11, 24, 23, tzinfo=UTC))
    data = json.loads(json.dumps(explained.as_dict()))
    assert data["facts"] == {
        "e164": "+12025550123",
        "region": "US",
        "region_source": "number",
        "calling_code": 1,
        "number_type": "fixed_line_or_mobile",
        "valid": True,
        "time_zone": "America/New_York",
        "time_zone_source": "number",
        "local_time": "2026-11-24T18:00:00-05:00",
        "contact_known": False,
        "schedule_groups_known": False,
        "live_known": False,
    }
    assert data["rules"] == [
        {"name": "vip", "outcome": "not matched", "failed": "contact.tier"},
        {"name": "widget-7", "outcome": "not matched", "failed": "number_type"},
        {"name": "uk-queue", "outcome": "not matched", "failed": "queue_id"},
        {"name": "london", "outcome": "not matched", "failed": "prefix"},
        {"name": "gb-office-hours", "outcome": "not matched", "failed": "region"},
        {"name": "us-half", "outcome": "matched", "failed": None},
        {"name": "anyone", "outcome": "not tried", "failed": None},
    ]
    assert data["patch"] == {"queueId": US_QUEUE, "data": {"split": "a"}}
    assert data["notes"] == []
    assert (data["rules_source"], data["rules_version"]) == ("test.toml", MIXED.version)


def test_every_condition_kind_is_in_the_readme():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("**Conditions** (`when`):", 1)[1].split("\n\n", 2)[1]
    documented = set(re.findall(r"`([a-z_]+)[`.]", table))
    assert {kind.key for kind in CONDITION_KINDS} <= documented
