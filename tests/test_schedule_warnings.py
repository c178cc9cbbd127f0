"""`check`'s warning about preferred agents on scheduled callbacks names every rule of each
combination that can decide one callback, once per combination, and never a rule alone for what
another rule does."""

from __future__ import annotations

from tests.engine_helpers import rules

NO_AGENTS = "Genesys does not apply preferred-agent routing to scheduled callbacks"


def warnings_of(body: str) -> list[str]:
    return [w for w in rules(body).warnings if NO_AGENTS in w]


def rule(name: str, then: str, keep_going: bool = False) -> str:
    more = "continue = true\n" if keep_going else ""
    return f'[[rules]]\nname = "{name}"\nwhen = {{}}\nthen = {then}\n{more}'


AGENTS = '{ preferred_agents = ["alice"] }'
SCHEDULE = '{ schedule = "+1h" }'


def test_a_rule_that_does_both_is_named_alone():
    assert warnings_of(rule("both", '{ schedule = "+1h", agent_owned = "alice" }')) == [
        f"rule 'both': schedules a callback and makes the callback agent-owned; {NO_AGENTS}"
    ]


def test_a_continue_rule_and_a_later_scheduling_rule_are_named_together_once():
    body = rule("vip", AGENTS, keep_going=True) + rule("after-hours", SCHEDULE)
    assert warnings_of(body) == [
        "rules 'vip' and 'after-hours' may decide one callback together (continue = true): "
        f"rule 'vip' sets preferred agents, rule 'after-hours' schedules it; {NO_AGENTS}"
    ]


def test_the_scheduling_rule_may_come_first():
    body = rule("later", SCHEDULE, keep_going=True) + rule("vip", AGENTS)
    assert warnings_of(body) == [
        "rules 'later' and 'vip' may decide one callback together (continue = true): "
        f"rule 'vip' sets preferred agents, rule 'later' schedules it; {NO_AGENTS}"
    ]


def test_rules_that_cannot_decide_together_are_not_warned_about():
    body = rule("vip", AGENTS) + rule("after-hours", SCHEDULE) + rule("other", SCHEDULE)
    assert warnings_of(body) == []


def test_each_combination_is_its_own_warning():
    body = (
        rule("vip", AGENTS, keep_going=True)
        + rule("after-hours", SCHEDULE)
        + rule("weekend", SCHEDULE)
    )
    shown = warnings_of(body)
    assert len(shown) == 2
    assert shown[0].startswith("rules 'vip' and 'after-hours' may decide")
    assert shown[1].startswith("rules 'vip' and 'weekend' may decide")


def test_defaults_combine_with_every_rule():
    body = '[defaults]\nschedule = "+30m"\n' + rule("vip", AGENTS)
    assert warnings_of(body) == [
        "rule 'vip' and [defaults] may decide one callback together ([defaults] fill every "
        f"decision): rule 'vip' sets preferred agents, [defaults] schedules it; {NO_AGENTS}"
    ]
