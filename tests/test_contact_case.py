"""Contact fields and attributes from a CRM export match rules whatever their case (Unicode case
folding), unless a condition asks for an exact match."""

from __future__ import annotations

import pytest

from decision.engine import Contact, RulesError
from tests.engine_helpers import UK_MOBILE, matched, rules


def one_condition(when: str):
    return rules(f'[[rules]]\nname = "r"\nwhen = {when}\nthen = {{ priority = 1 }}\n')


@pytest.mark.parametrize(
    ("when", "contact"),
    [
        ('{ contact.tier = "vip" }', Contact(tier="VIP")),
        ('{ contact.tier = "VIP" }', Contact(tier="vip")),
        ('{ contact.language = ["german", "french"] }', Contact(language="German")),
        ('{ contact.segment = "gold" }', Contact(attributes={"segment": "Gold"})),
        ('{ contact.city = "strasse" }', Contact(attributes={"city": "STRAßE"})),  # folding
    ],
)
def test_text_matches_ignore_case(when, contact):
    assert matched(one_condition(when), contact=contact, **UK_MOBILE) == ["r"]


def test_an_exact_condition_matches_only_the_same_case():
    ruleset = one_condition('{ contact.tier = { exact = "VIP" } }')
    assert matched(ruleset, contact=Contact(tier="VIP"), **UK_MOBILE) == ["r"]
    assert matched(ruleset, contact=Contact(tier="vip"), **UK_MOBILE) == []
    listed = one_condition('{ contact.segment = { exact = ["Gold", "Silver"] } }')
    assert matched(listed, contact=Contact(attributes={"segment": "Silver"}), **UK_MOBILE) == ["r"]
    assert matched(listed, contact=Contact(attributes={"segment": "silver"}), **UK_MOBILE) == []


def test_an_unknown_contact_or_field_still_does_not_match():
    ruleset = one_condition('{ contact.tier = "vip" }')
    assert matched(ruleset, contact=None, **UK_MOBILE) == []
    assert matched(ruleset, contact=Contact(name="Ada"), **UK_MOBILE) == []


@pytest.mark.parametrize(
    "when",
    ['{ contact.tier = { exactly = "VIP" } }', '{ contact.tier = { exact = "VIP", x = 1 } }'],
)
def test_other_tables_are_refused(when):
    with pytest.raises(RulesError, match=r"contact\.tier: expected a value, a list of them"):
        one_condition(when)
