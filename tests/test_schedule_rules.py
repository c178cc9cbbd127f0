"""Schedule groups in the rules (issue 19), on the pure engine with an exact clock: the
`schedule_group` condition, `schedule = "next open"`, the declared form, public holidays in
windows and `next` schedules, and the facts a decision states and replay decides from."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from google.protobuf.json_format import MessageToDict

from decision.engine import (
    CallbackRequest,
    OutsideFacts,
    RulesError,
    RulesInput,
    explain,
    parse_rules,
)
from decision.engine.schedule_rules import SCHEDULE_GROUPS
from decision.engine.schedules import groups_from_snapshot
from decision.engine.windows import WeeklyWindow, next_opening_skipping
from decision.genesys.names import OrgNames
from decision.rules.cases import run_cases
from decision.rules.live import read_rules
from decision.rules.rendering import format_explanation
from tests.test_schedules import (
    CHRISTMAS_ID,
    GROUP_ID,
    LUNCH_ID,
    OPEN_ID,
    UK_HOURS,
    support_hours_us,
    utc,
)

HEAD = 'version = 1\n[defaults]\ntimezone = "Europe/London"\n'
US_CALLER = {"phone_number": "2025550123", "country_code": "+1"}
UK_CALLER = {"phone_number": "07400123456", "country_code": "+44"}
STATE_RULES = """
[[rules]]
name = "holiday"
when = { schedule_group = "holiday" }
then = { label = "holiday" }
[[rules]]
name = "open"
when = { schedule_group = "open" }
then = { label = "open" }
[[rules]]
name = "closed"
when = { schedule_group = ["closed", "emergency"] }
then = { label = "closed", schedule = "next open" }
"""


def org_input(document: dict | None = None, **emergency: str) -> RulesInput:
    document = document or support_hours_us()
    return RulesInput(
        "genesys snapshot org.json",
        "digest",
        OrgNames(document, "org.json"),
        schedule_groups=groups_from_snapshot(document, emergency),
    )


def with_org(body: str, **emergency: str):
    return parse_rules(HEAD + body, "test.toml", inputs=[org_input(**emergency)])


def declared(body: str, head: str = HEAD):
    return parse_rules(head + UK_HOURS + body, "test.toml")


def decide(ruleset, at: str, facts: OutsideFacts | None = None, **request):
    fields = {**US_CALLER, "schedule_group_id": GROUP_ID, **request}
    return ruleset.decide(CallbackRequest(**fields), utc(at), facts or OutsideFacts())


def scheduled(decision) -> str | None:
    return MessageToDict(decision.patch).get("callbackScheduledTime")


def problems(text: str, inputs=()) -> list[str]:
    with pytest.raises(RulesError) as raised:
        parse_rules(text, "test.toml", inputs=inputs)
    return raised.value.problems


@pytest.mark.parametrize(
    ("at", "rule", "active", "callback"),
    [
        ("2026-12-07T15:00:00Z", "open", [OPEN_ID], None),  # Mon 10:00 New York
        # Lunch: the closed schedule wins over the open one, and opens again at 13:00.
        ("2026-12-07T17:30:00Z", "closed", [LUNCH_ID], "2026-12-07T18:00:00Z"),
        # 17:00 is outside 08:00-17:00 (ends exclusive): default closed until Tuesday 08:00.
        ("2026-12-07T22:00:00Z", "closed", [], "2026-12-08T13:00:00Z"),
        ("2026-12-25T15:00:00Z", "holiday", [CHRISTMAS_ID], None),  # Christmas Day, a Friday
    ],
)
def test_the_request_group_decides_by_its_state(at, rule, active, callback):
    decision = decide(with_org(STATE_RULES), at)
    assert decision.matched_rules == [rule]
    fact = decision.derived.get(SCHEDULE_GROUPS)[GROUP_ID]
    assert [ident for ident, _ in fact.active] == active
    assert scheduled(decision) == callback


def test_the_snapshot_group_by_name_and_the_active_schedules_by_name():
    ruleset = with_org(
        '[[rules]]\nname = "lunch"\n'
        'when = { schedule_group = { name = "support hours us", state = "closed" } }\n'
        'then = { label = "lunch" }\n'
    )
    decision = decide(ruleset, "2026-12-07T17:30:00Z", schedule_group_id="")
    assert decision.matched_rules == ["lunch"]
    fact = decision.derived.get(SCHEDULE_GROUPS)[GROUP_ID]
    assert (fact.state, fact.active) == ("closed", ((LUNCH_ID, "Lunch 12-13"),))


@pytest.mark.parametrize(
    ("at", "state"),
    [
        # The week of the spring change (8 March 2026 in New York): 08:30 is open before and
        # after it, in EST and in EDT, and 07:30 is closed on both sides.
        ("2026-03-06T13:30:00Z", "open"),  # Fri 08:30 EST
        ("2026-03-06T12:30:00Z", "closed"),  # Fri 07:30 EST
        ("2026-03-09T12:30:00Z", "open"),  # Mon 08:30 EDT
        ("2026-03-09T11:30:00Z", "closed"),  # Mon 07:30 EDT
        # The week of the autumn change (1 November 2026).
        ("2026-10-30T12:30:00Z", "open"),  # Fri 08:30 EDT
        ("2026-11-02T13:30:00Z", "open"),  # Mon 08:30 EST
        ("2026-11-02T12:30:00Z", "closed"),  # Mon 07:30 EST
        ("2026-11-02T21:59:59Z", "open"),  # Mon 16:59:59 EST
    ],
)
def test_a_week_across_each_dst_change_keeps_the_wall_clock(at, state):
    assert decide(with_org(STATE_RULES), at).matched_rules == [state]


def test_a_group_in_another_time_zone_than_the_caller():
    ruleset = with_org(STATE_RULES)
    # A London caller at 15:30 GMT on a Monday: 10:30 in the group's New York.
    london = decide(ruleset, "2026-12-07T15:30:00Z", **UK_CALLER)
    assert london.matched_rules == ["open"]
    assert london.time_zone == "Europe/London"
    # At 22:30 in London it is 17:30 in New York: closed, calling back Tuesday 08:00 EST.
    evening = decide(ruleset, "2026-12-07T22:30:00Z", **UK_CALLER)
    assert (evening.matched_rules, scheduled(evening)) == (["closed"], "2026-12-08T13:00:00Z")


@pytest.mark.parametrize(
    ("at", "callback"),
    [
        # Thu 24 Dec 2026 after hours: Christmas (a holiday schedule), the weekend and Mon 28
        # (Boxing Day, the English substitute bank holiday) are skipped.
        ("2026-12-24T18:00:00Z", "2026-12-29T08:00:00Z"),
        # 2027: Christmas and Boxing Day on the weekend, Mon 27 and Tue 28 their substitutes;
        # Wednesday opens after its closed morning.
        ("2027-12-24T18:00:00Z", "2027-12-29T10:00:00Z"),
    ],
)
def test_next_opening_from_christmas_eve_after_hours(at, callback):
    ruleset = declared(
        '[[rules]]\nname = "later"\nwhen = { schedule_group = { name = "UK hours", state = '
        '["closed", "holiday"] } }\nthen = { schedule = { next_open = "UK hours" } }\n',
        head="version = 1\n[defaults]\nschedule_horizon_days = 14\n",
    )
    decision = decide(ruleset, at, schedule_group_id="")
    assert (decision.matched_rules, scheduled(decision)) == (["later"], callback)
    fact = decision.derived.get(SCHEDULE_GROUPS)["uk-hours"]
    assert fact.next_open == utc(callback)


def test_open_now_sets_no_time_and_beyond_the_horizon_is_dropped_with_a_note():
    ruleset = declared(
        '[[rules]]\nname = "r"\nthen = { schedule = "next open" }\n',
        head="version = 1\n[defaults]\nschedule_horizon_days = 2\n",
    )
    now_open = decide(ruleset, "2026-12-08T10:00:00Z", schedule_group_id="uk-hours")
    assert scheduled(now_open) is None
    assert now_open.notes == [
        "schedule: schedule group 'UK hours' is open now, so the callback is not delayed"
    ]
    christmas = decide(ruleset, "2026-12-24T18:00:00Z", schedule_group_id="uk-hours")
    assert scheduled(christmas) is None
    assert christmas.notes == [
        "schedule dropped: schedule group 'UK hours' does not open within 2 days"
    ]


def test_a_group_the_rules_do_not_know_does_not_match_and_says_so():
    decision = decide(with_org(STATE_RULES), "2026-12-07T15:00:00Z", schedule_group_id="sg-x")
    assert decision.matched_rules == []
    assert decision.notes == [
        "schedule_group does not match: the request's schedule group 'sg-x' is not known (not "
        "in the org snapshot nor declared in the rules)"
    ]
    nothing = decide(with_org(STATE_RULES), "2026-12-07T15:00:00Z", schedule_group_id="")
    assert nothing.notes == ["schedule_group does not match: the request has no scheduleGroupId"]
    assert nothing.derived.get(SCHEDULE_GROUPS) is None


def test_check_refuses_what_it_cannot_use():
    unknown = problems(
        HEAD + '[[rules]]\nname = "r"\nwhen = { schedule_group = { name = "Suport hours", '
        'state = "open" } }\nthen = { schedule = { next_open = "Nope" } }\n',
        [org_input()],
    )
    assert unknown == [
        "rule 'r': when.schedule_group.name: unknown schedule group 'Suport hours': neither "
        'declared ([schedule_groups."<name>"]) nor in the org snapshot (known: \'Support hours '
        "US')",
        "rule 'r': then.schedule.next_open: unknown schedule group 'Nope': neither declared "
        "([schedule_groups.\"<name>\"]) nor in the org snapshot (known: 'Support hours US')",
    ]
    assert problems(
        HEAD + '[[rules]]\nname = "r"\nwhen = { schedule_group = "shut" }\nthen = {}\n'
    ) == [
        "rule 'r': when.schedule_group: unknown state 'shut' (known: open, closed, holiday, "
        "emergency)"
    ]


def test_declared_groups_are_refused_with_file_group_and_field():
    bad = UK_HOURS.replace('time_zone = "Europe/London"', 'time_zone = "Europe/Londres"')
    bad = bad.replace('holidays = "GB-ENG"', 'holidays = "GB-ENX"')
    with pytest.raises(RulesError) as raised:
        parse_rules("version = 1\n" + bad, "rules.toml")
    assert str(raised.value) == (
        "rules.toml: schedule_groups.\"UK hours\".time_zone: unknown time zone 'Europe/Londres'"
    )
    wrong_rule = UK_HOURS.replace("BYDAY=WE", "BYDAY=XX")
    found = problems("version = 1\n" + wrong_rule)
    assert len(found) == 1
    assert found[0].startswith('schedule_groups."UK hours".closed[0]: ')
    holidays = problems("version = 1\n" + UK_HOURS.replace("GB-ENG", "GB-ENX"))
    assert holidays[0].startswith(
        "schedule_groups.\"UK hours\".holidays 'GB-ENX': GB has no subdivision 'ENX'; valid: "
    )
    assert "GB-ENG" in holidays[0]


def test_unknown_holiday_codes_are_refused_with_what_is_near():
    found = problems('version = 1\n[defaults]\nholidays = "GX"\n')
    assert found[0].startswith("defaults.holidays: holidays 'GX': unknown country 'GX'; nearby: ")
    nearby = found[0].partition("nearby: ")[2].partition(" (")[0].split(", ")
    assert "GB" in nearby
    assert all(len(code) == 2 for code in nearby)  # the library's alpha-3 codes (GBR) were shown
    window = problems(
        'version = 1\n[[rules]]\nname = "r"\nwhen = { local_time = { in = "mon-fri '
        '09:00-17:00", holidays = "XX-YY" } }\nthen = {}\n'
    )
    assert window[0].startswith("rule 'r': when.local_time.holidays: holidays 'XX-YY'")


WINDOW_RULES = """
[[rules]]
name = "office"
when = { local_time = "mon-fri 09:00-17:00" }
then = { label = "office" }
[[rules]]
name = "after-hours"
then = { schedule = "next mon-fri 09:00-17:00" }
"""


def test_default_holidays_close_windows_and_next_schedules_all_day():
    # Mon 28 Dec 2026 10:00 in London: Boxing Day (substitute), a bank holiday in England.
    holiday = "2026-12-28T10:00:00Z"
    plain = parse_rules(HEAD + WINDOW_RULES, "test.toml")
    assert plain.decide(CallbackRequest(**UK_CALLER), utc(holiday)).matched_rules == ["office"]
    english = parse_rules(HEAD + 'holidays = "GB-ENG"\n' + WINDOW_RULES, "test.toml")
    decision = english.decide(CallbackRequest(**UK_CALLER), utc(holiday))
    assert (decision.matched_rules, scheduled(decision)) == (
        ["after-hours"],
        "2026-12-29T09:00:00Z",
    )
    # Christmas Eve after hours: Friday 25 and the weekend and Monday 28 skipped.
    eve = english.decide(CallbackRequest(**UK_CALLER), utc("2026-12-24T18:00:00Z"))
    assert scheduled(eve) == "2026-12-29T09:00:00Z"


def test_a_window_or_a_schedule_overrides_the_default_and_empty_turns_it_off():
    rules = """
[[rules]]
name = "office"
when = { local_time = { in = "mon-fri 09:00-17:00", holidays = "" } }
then = { label = "office" }
[[rules]]
name = "us"
then = { schedule = { next = "mon-fri 09:00-17:00", timezone = "America/New_York", holidays = "US-NY" } }
"""
    ruleset = parse_rules(HEAD + 'holidays = "GB-ENG"\n' + rules, "test.toml")
    boxing_day = ruleset.decide(CallbackRequest(**UK_CALLER), utc("2026-12-28T10:00:00Z"))
    assert boxing_day.matched_rules == ["office"]
    # Thu 31 Dec 2026 after hours in New York: New Year's Day is skipped, then the weekend.
    new_year = ruleset.decide(CallbackRequest(**UK_CALLER), utc("2026-12-31T23:00:00Z"))
    assert scheduled(new_year) == "2027-01-04T14:00:00Z"


def test_a_declared_group_takes_the_default_holidays_unless_it_says_otherwise():
    body = '[[rules]]\nname = "r"\nwhen = { schedule_group = "holiday" }\nthen = { label = "h" }\n'
    head = 'version = 1\n[defaults]\nholidays = "GB-ENG"\n'
    without = UK_HOURS.replace('holidays = "GB-ENG"\n', "")
    boxing = "2026-12-28T10:00:00Z"
    default = parse_rules(head + without + body, "test.toml")
    assert decide(default, boxing, schedule_group_id="uk-hours").matched_rules == ["r"]
    off = parse_rules(head + without + 'holidays = ""\n' + body, "test.toml")
    assert decide(off, boxing, schedule_group_id="uk-hours").matched_rules == []


def test_emergency_only_when_the_paired_group_is_enabled():
    document = support_hours_us()
    document["emergency_groups"] = [
        {"id": "storm", "name": "Storm", "state": "active", "enabled": True}
    ]
    inputs = [org_input(document, **{GROUP_ID: "storm"})]
    ruleset = parse_rules(HEAD + STATE_RULES, "test.toml", inputs=inputs)
    decision = decide(ruleset, "2026-12-07T15:00:00Z")
    assert decision.matched_rules == ["closed"]
    assert decision.derived.get(SCHEDULE_GROUPS)[GROUP_ID].state == "emergency"
    assert decision.notes[-1] == (
        "schedule dropped: schedule group 'Support hours US' is emergency (the emergency group "
        "is enabled)"
    )
    unpaired = parse_rules(HEAD + STATE_RULES, "test.toml", inputs=[org_input(document)])
    assert decide(unpaired, "2026-12-07T15:00:00Z").matched_rules == ["open"]


def test_the_facts_round_trip_and_a_replay_decides_from_them():
    ruleset = with_org(STATE_RULES)
    lunch = decide(ruleset, "2026-12-07T17:30:00Z")
    written = SCHEDULE_GROUPS.write(lunch.derived.get(SCHEDULE_GROUPS))
    assert written == {
        GROUP_ID: {
            "name": "Support hours US",
            "state": "closed",
            "active": [{"id": LUNCH_ID, "name": "Lunch 12-13"}],
            "reason": "closed",
            "note": "",
            "next_opening": "2026-12-07T18:00:00+00:00",
            "next_opening_reason": "opens",
        }
    }
    logged = OutsideFacts({SCHEDULE_GROUPS: SCHEDULE_GROUPS.read(written)})
    # Replayed at another moment, the logged state and opening decide, not a new evaluation.
    again = decide(ruleset, "2026-12-07T15:00:00Z", logged)
    assert (again.matched_rules, scheduled(again)) == (["closed"], "2026-12-07T18:00:00Z")
    # A cases file may give a state alone.
    pretend = OutsideFacts(
        {SCHEDULE_GROUPS: SCHEDULE_GROUPS.read({GROUP_ID: {"state": "holiday"}})}
    )
    assert decide(ruleset, "2026-12-07T15:00:00Z", pretend).matched_rules == ["holiday"]


def test_a_rule_set_that_asks_states_the_request_group_whichever_rule_decides():
    ruleset = with_org(
        '[[rules]]\nname = "first"\nthen = { label = "x" }\n'
        '[[rules]]\nname = "never"\nwhen = { schedule_group = "open" }\nthen = { label = "y" }\n'
    )
    decision = decide(ruleset, "2026-12-07T15:00:00Z")
    assert decision.derived.get(SCHEDULE_GROUPS)[GROUP_ID].state == "open"
    plain = with_org('[[rules]]\nname = "first"\nthen = { label = "x" }\n')
    assert not decide(plain, "2026-12-07T15:00:00Z").derived


def test_a_window_that_opens_only_on_holidays_is_never_open():
    window = WeeklyWindow.parse("mon-fri 09:00-17:00")
    london = ZoneInfo("Europe/London")
    at = utc("2026-12-24T18:00:00Z")
    assert next_opening_skipping(window, at, london, lambda day: False) == utc(
        "2026-12-25T09:00:00Z"
    )
    with pytest.raises(LookupError, match="opens only on holidays for 400 days"):
        next_opening_skipping(window, at, london, lambda day: True)
    # On a holiday, a window open at midnight opens at the end of the holiday, not "now".
    night = WeeklyWindow.parse("daily 00:00-24:00")
    christmas = utc("2026-12-25T10:00:00Z")
    is_christmas = lambda day: day.month == 12 and day.day == 25  # noqa: E731
    assert next_opening_skipping(night, christmas, london, is_christmas) == utc(
        "2026-12-26T00:00:00Z"
    )
    assert next_opening_skipping(night, christmas, london, lambda day: False) is None


def test_a_case_runs_at_its_moment_or_pretends_a_state(tmp_path):
    rules_path = tmp_path / "rules.toml"
    rules_path.write_text(
        "version = 1\n" + UK_HOURS + '[[rules]]\nname = "later"\n'
        'when = { schedule_group = ["closed", "holiday"] }\nthen = { schedule = "next open" }\n'
    )
    cases = tmp_path / "cases.toml"
    cases.write_text(
        """
[[cases]]
name = "Christmas Eve after hours calls back after the holidays"
at = 2026-12-24T18:00:00Z
request = { phoneNumber = "07400123456", countryCode = "+44", scheduleGroupId = "uk-hours" }
expect.rules = ["later"]
expect.patch.callbackScheduledTime = "2026-12-29T08:00:00Z"

[[cases]]
name = "a holiday pretended on a Tuesday morning"
at = 2026-12-08T09:00:00Z
request = { phoneNumber = "07400123456", countryCode = "+44", scheduleGroupId = "uk-hours" }
schedule_groups = { uk-hours = { state = "holiday" } }
expect.rules = ["later"]
expect.absent = ["callbackScheduledTime"]
"""
    )
    results = run_cases(read_rules(rules_path), cases)
    assert [r.failures for r in results] == [(), ()]


def test_explain_shows_the_group_its_schedules_and_opening():
    explained = explain(
        with_org(STATE_RULES),
        CallbackRequest(**US_CALLER, schedule_group_id=GROUP_ID),
        utc("2026-12-07T17:30:00Z"),
    )
    text = format_explanation(explained)
    assert (
        f"  schedule      'Support hours US' ({GROUP_ID}) closed: Lunch 12-13; opens "
        "2026-12-07T18:00:00+00:00"
    ) in text.splitlines()
    assert explained.facts["schedule_groups_known"] is True


def test_a_bad_default_calendar_is_one_problem_however_many_groups_take_it():
    found = problems(
        'version = 1\n[defaults]\nholidays = "GX"\n' + UK_HOURS.replace('holidays = "GB-ENG"\n', "")
    )
    assert len(found) == 1
    assert found[0].startswith("defaults.holidays: ")


def test_the_business_hours_example_checks_and_its_cases_pass():
    examples = Path(__file__).resolve().parent.parent / "examples"
    ruleset = read_rules(examples / "business-hours.toml")
    assert ruleset.warnings == ()
    results = run_cases(ruleset, examples / "business-hours-cases.toml")
    assert len(results) == 5
    assert [r.failures for r in results] == [()] * 5


def test_a_name_of_two_snapshot_groups_names_neither():
    document = support_hours_us()
    twin = {**document["schedule_groups"][0], "id": "7d2f1a9e-3c4b-4e8a-9f10-2b6c5d4e3a99"}
    document["schedule_groups"].append(twin)
    found = problems(
        HEAD + '[[rules]]\nname = "r"\nwhen = { schedule_group = { name = "Support hours US", '
        'state = "open" } }\nthen = {}\n',
        [org_input(document)],
    )
    assert found == [
        "rule 'r': when.schedule_group.name: 'Support hours US' names 2 schedule groups in the "
        f"org snapshot ({GROUP_ID}, 7d2f1a9e-3c4b-4e8a-9f10-2b6c5d4e3a99): give the id, or a "
        "[names.schedule_groups] alias"
    ]
    by_id = parse_rules(
        HEAD + f'[[rules]]\nname = "r"\nwhen = {{ schedule_group = {{ name = "{GROUP_ID}", '
        'state = "open" } }\nthen = {}\n',
        "test.toml",
        inputs=[org_input(document)],
    )
    assert decide(by_id, "2026-12-07T15:00:00Z").matched_rules == ["r"]
