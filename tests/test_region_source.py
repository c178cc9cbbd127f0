"""A number that is not valid still has the region of its calling code (the main one for shared
codes), and the facts say where the region came from."""

from __future__ import annotations

import pytest
from google.protobuf.json_format import MessageToDict

from contract.client import BlockingDecisionClient
from contract.v1 import decision_pb2
from decision.engine import CallbackRequest, explain
from decision.engine.numbers import number_facts
from decision.rules.rendering import format_explanation
from tests.conftest import EXAMPLE_RULES
from tests.engine_helpers import TUESDAY_NOON, matched, rules
from tests.in_process import InProcessDecision


@pytest.mark.parametrize(
    ("phone", "country_code", "region", "source"),
    [
        ("07400123456", "+44", "GB", "number"),  # valid: its own region
        ("+44 7400 12", "", "GB", "calling code"),  # too short, but +44 is the UK
        ("07400 12", "+44", "GB", "calling code"),
        ("202555", "+1", "US", "calling code"),  # +1 is shared: its main region
        ("not a number", "+44", "GB", "calling code"),  # unparsed, the widget's code known
        ("12", "", "", ""),  # no calling code at all
        ("+800 1234", "", "", ""),  # a non-geographic code has no region
    ],
)
def test_region_and_where_it_came_from(phone, country_code, region, source):
    facts = number_facts(phone, country_code)
    assert (facts.region, facts.region_source) == (region, source)


UK_RULE = '[[rules]]\nname = "uk"\nwhen = { region = "GB" }\nthen = { queue = "support-uk" }\n'


def test_a_region_rule_matches_a_uk_caller_who_typed_a_digit_too_few():
    assert matched(rules(UK_RULE), phone_number="+44 7400 12") == ["uk"]


def test_explain_says_the_region_came_from_the_calling_code():
    explained = explain(rules(UK_RULE), CallbackRequest(phone_number="+44 7400 12"), TUESDAY_NOON)
    assert explained.facts["region"] == "GB"
    assert explained.facts["region_source"] == "calling code"
    assert "region        GB (from the calling code: the number is not valid)" in (
        format_explanation(explained)
    )


def test_decide_over_grpc_carries_the_region_source(services):
    with (
        InProcessDecision(services, EXAMPLE_RULES) as service,
        BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client,
    ):
        reply = client.decide(decision_pb2.DecideRequest(phone_number="+44 7400 12"))
    facts = MessageToDict(reply.facts)
    assert (facts["region"], facts["regionSource"]) == ("GB", "calling code")
