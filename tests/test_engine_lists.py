"""Skills and preferred agents across matched rules and [defaults]: a plain list adds, `only`
replaces the whole list, `remove` keeps entries out of it, and explain says who did what."""

from __future__ import annotations

import pytest

from decision.engine import CallbackRequest, Contact, RulesError, explain
from tests.engine_helpers import (
    ALICE,
    BOB,
    ENGLISH,
    MOBILE,
    PREMIUM,
    TUESDAY_NOON,
    UK_MOBILE,
    answer,
    decide,
    rules,
)

# A UK mobile caller matches both rules; [defaults] adds the mobile skill to everyone.
SPANISH_AND_UK = """
[defaults]
skills = ["mobile"]

[[rules]]
name = "spanish"
when = { attributes.language = "es" }
then = { skills = SPANISH_SKILLS, preferred_agents = ["alice"] }
continue = true

[[rules]]
name = "uk-mobile"
when = { region = "GB" }
then = { queue = "support-uk", skills = ["english"], preferred_agents = ["bob"] }
"""


def spanish_rules(spanish_skills: str):
    # premium stands in for a Spanish skill: the helpers' names have no such skill.
    return rules(SPANISH_AND_UK.replace("SPANISH_SKILLS", spanish_skills))


SPANISH_CALLER = {**UK_MOBILE, "attributes": {"language": "es"}}


def skills(ruleset, contact: Contact | None = None, **request):
    return answer(ruleset, contact=contact, **request)["routingData"].get("skillIds", [])


def test_a_plain_list_still_adds_to_what_other_rules_and_defaults_add():
    assert skills(spanish_rules('["premium"]'), **SPANISH_CALLER) == [PREMIUM, ENGLISH, MOBILE]


def test_only_replaces_the_list_that_other_rules_and_defaults_build():
    ruleset = spanish_rules('{ only = ["premium"] }')
    assert skills(ruleset, **SPANISH_CALLER) == [PREMIUM]
    # A caller the rule does not match keeps the union.
    assert skills(ruleset, **UK_MOBILE) == [ENGLISH, MOBILE]


def test_only_an_empty_list_means_no_skills_at_all():
    body = answer(spanish_rules("{ only = [] }"), **SPANISH_CALLER)
    assert "skillIds" not in body["routingData"]


def test_remove_keeps_entries_out_whoever_adds_them():
    ruleset = spanish_rules('{ remove = ["english", "mobile"] }')
    assert skills(ruleset, **SPANISH_CALLER) == []
    assert answer(ruleset, **SPANISH_CALLER)["routingData"]["preferredAgentIds"] == [ALICE, BOB]


def test_preferred_agents_take_the_same_two_forms():
    ruleset = rules(
        """
[[rules]]
name = "first"
when = {}
then = { preferred_agents = ["alice", "bob"] }
continue = true

[[rules]]
name = "only-bob"
when = {}
then = { preferred_agents = { only = ["bob"] } }
continue = true

[[rules]]
name = "no-alice"
when = {}
then = { queue = "support-uk", preferred_agents = { remove = ["alice"] } }
"""
    )
    assert answer(ruleset, **UK_MOBILE)["routingData"]["preferredAgentIds"] == [BOB]


def test_only_and_remove_take_the_contacts_own_list():
    ruleset = rules(
        """
[defaults]
skills = ["english"]

[[rules]]
name = "the-contacts-skills"
when = { contact.known = true }
then = { queue = "support-uk", skills = { only = ["@contact.skills"] } }
"""
    )
    contact = Contact(skills=("premium", "mobile"))
    assert skills(ruleset, contact=contact, **UK_MOBILE) == [PREMIUM, MOBILE]


def test_explain_notes_which_rule_replaced_or_removed_what():
    replaced = explain(
        spanish_rules('{ only = ["premium"] }'),
        CallbackRequest(**SPANISH_CALLER),
        TUESDAY_NOON,
    )
    assert replaced.notes == [
        "skills: rule 'spanish' kept only [premium], dropping english (rule 'uk-mobile'), "
        "mobile ([defaults])"
    ]
    removed = explain(
        spanish_rules('{ remove = ["english"] }'), CallbackRequest(**SPANISH_CALLER), TUESDAY_NOON
    )
    assert removed.notes == ["skills: rule 'spanish' removed english (rule 'uk-mobile')"]


def test_the_first_rule_to_say_only_decides_and_a_later_one_is_noted():
    ruleset = rules(
        """
[[rules]]
name = "a"
when = {}
then = { skills = { only = ["premium"] } }
continue = true

[[rules]]
name = "b"
when = {}
then = { queue = "support-uk", skills = { only = ["english"] } }
"""
    )
    decision = decide(ruleset, **UK_MOBILE)
    assert skills(ruleset, **UK_MOBILE) == [PREMIUM]
    assert decision.notes == ["skills: rule 'b''s only ignored: rule 'a' decided the list first"]


def test_a_kept_patch_gives_the_same_list_and_notes_the_second_time():
    ruleset = spanish_rules('{ only = ["premium"] }')
    first, second = decide(ruleset, **SPANISH_CALLER), decide(ruleset, **SPANISH_CALLER)
    assert first.patch == second.patch
    assert first.notes == second.notes
    assert len(second.notes) == 1


@pytest.mark.parametrize(
    ("then", "problem"),
    [
        (
            '{ skills = { add = ["english"] } }',
            "then.skills: expected a list, { only = [...] } or { remove = [...] }",
        ),
        (
            '{ skills = { only = ["english"], remove = ["premium"] } }',
            "then.skills: expected a list, { only = [...] } or { remove = [...] }",
        ),
        (
            "{ skills = { remove = [] } }",
            "then.skills.remove: expected a non-empty string or a list of them",
        ),
        (
            '{ preferred_agents = { only = ["nobody"] } }',
            "then.preferred_agents.only: unknown agent name 'nobody'",
        ),
    ],
)
def test_malformed_list_forms_are_refused_with_their_place(then, problem):
    with pytest.raises(RulesError) as raised:
        rules(f'[[rules]]\nname = "r"\nwhen = {{}}\nthen = {then}\n')
    assert any(problem in p for p in raised.value.problems), raised.value.problems
