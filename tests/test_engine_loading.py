"""Every kind of invalid rules file is refused with file, rule and key; nothing is executed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from decision.engine import CallbackRequest, RulesError, parse_rules
from tests.engine_helpers import NAMES, answer, matched, rules


def problems(body: str, with_names: bool = True) -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_rules((NAMES if with_names else "") + body, "rules.toml")
    assert str(caught.value).startswith("rules.toml: ")
    return caught.value.problems


def rule(when: str = "{}", then: str = '{ label = "x" }', name: str = "r") -> str:
    return f'[[rules]]\nname = "{name}"\nwhen = {when}\nthen = {then}\n'


def test_the_example_file_loads():
    text = (Path(__file__).resolve().parent.parent / "examples" / "rules.toml").read_text()
    ruleset = parse_rules(text, "examples/rules.toml")
    assert [r.name for r in ruleset.rules] == ["known-vip", "uk-mobile", "us-after-hours"]
    assert ruleset.warnings  # known-vip continues into a scheduling rule


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (rule(when='{ colour = "red" }'), "rule 'r': when.colour: unknown condition"),
        (rule(then="{ teleport = true }"), "rule 'r': then.teleport: unknown action"),
        (
            rule(then='{ queue = "support-mars" }'),
            "rule 'r': then.queue: unknown queue name 'support-mars' (not in [names.queues])",
        ),
        (
            rule(then='{ skills = ["english", "klingon"] }'),
            "rule 'r': then.skills: unknown skill name 'klingon' (not in [names.skills])",
        ),
        (rule(when='{ queue_id = "nowhere" }'), "rule 'r': when.queue_id: unknown queue name"),
        (rule(when='{ region = "XX" }'), "rule 'r': when.region: unknown region 'XX'"),
        (
            rule(when='{ number_type = "cell" }'),
            "rule 'r': when.number_type: unknown number type 'cell'",
        ),
        (
            rule(when='{ country_code = "+999" }'),
            "rule 'r': when.country_code: unknown calling code",
        ),
        (rule(when='{ prefix = "44" }'), "rule 'r': when.prefix: expected E.164 prefixes"),
        (rule(when="{ percent = 120 }"), "rule 'r': when.percent: expected a number from 0 to 100"),
        (rule(when='{ valid = "yes" }'), "rule 'r': when.valid: expected true or false"),
        (
            rule(when='{ local_time = { in = "mon-fri 9-5" } }'),
            "rule 'r': when.local_time.in: 'mon-fri 9-5': '9-5' is not a time range like 09:00-17:00",
        ),
        (rule(when='{ local_time = { in = "someday 09:00-17:00" } }'), "unknown day in 'someday'"),
        (rule(when='{ local_time = { in = "mon 09:00-25:00" } }'), "bad time in"),
        (rule(when='{ local_time = { in = "mon 09:00-09:00" } }'), "is empty"),
        (
            rule(when='{ local_time = { in = "mon 09:00-10:00", timezone = "Mars/Olympus" } }'),
            "rule 'r': when.local_time.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            rule(when='{ local_time = { in = "mon 09:00-10:00", not_in = "tue 09:00-10:00" } }'),
            "expected exactly one of in / not_in",
        ),
        (
            rule(then="{ priority = 25000001 }"),
            "rule 'r': then.priority: expected a whole number from -25,000,000 to 25,000,000",
        ),
        (rule(then="{ priority = 1.5 }"), "then.priority: expected a whole number"),
        (
            rule(then='{ data = { visitorId = "x" } }'),
            "rule 'r': then.data.visitorId: belongs to TrueEngage and must never be set",
        ),
        (
            rule(then='{ data = { te_channel = "x" } }'),
            "then.data.te_channel: belongs to TrueEngage",
        ),
        (rule(then="{ data = { n = 1 } }"), "then.data.n: expected a non-empty string"),
        (rule(then='{ caller_id = "0207 123" }'), "then.caller_id: expected an E.164 number"),
        # The facade's check would drop it from every answer: refused at load instead.
        (
            rule(then='{ caller_id = "+442071234567\\n" }'),
            "then.caller_id: expected an E.164 number",
        ),
        (rule(then='{ schedule = "tomorrow" }'), 'then.schedule: expected "next <window>"'),
        (
            rule(then='{ schedule = "next never" }'),
            "then.schedule: 'never': expected days then times",
        ),
        (
            rule(then='{ customer_first_callback_delivery_mode = "Fast" }'),
            "expected one of UseQueueSetting",
        ),
        (rule(then='{ callback_user_name = "@contact" }'), "use @contact.<field>"),
        (rule() + rule(), "rule 'r': duplicate rule name"),
        ('[[rules]]\nwhen = {}\nthen = { label = "x" }\n', "rule #1: needs a non-empty `name`"),
        ('[[rules]]\nname = "r"\n', "rule 'r': needs a `then` table of actions"),
        ('[[rules]]\nname = "r"\nthen = {}\nsalience = 3\n', "rule 'r': salience: unknown key"),
        (
            '[[rules]]\nname = "r"\nthen = {}\ncontinue = "yes"\n',
            "rule 'r': continue: expected true",
        ),
        ('[defaults]\ntimezone = "Nowhere/Land"\n', "defaults.timezone: unknown time zone"),
        ('[defaults]\nregion = "XX"\n', "defaults.region: unknown region"),
        ("[defaults]\nschedule_horizon_days = 0\n", "defaults.schedule_horizon_days"),
        ('[defaults]\ncolour = "red"\n', "defaults.colour: unknown action"),
        ('[names.planets]\nmars = "x"\n', "names.planets: unknown kind of name"),
    ],
)
def test_invalid_files_are_refused_precisely(body, expected):
    found = problems(body)
    assert any(expected in p for p in found), found


def test_names_and_top_level_keys_are_checked():
    found = problems('version = 1\nsurprise = 1\n[names.queues]\nbad = "not-a-uuid"\n', False)
    assert found == [
        "surprise: unknown top-level key (known: version, names, defaults, rules, genesys, "
        "schedule_groups)",
        "names.queues.bad: expected a Genesys id (a UUID)",
    ]


def test_version_is_required_and_toml_must_parse():
    assert problems("", with_names=False) == ["version: expected `version = 1`"]
    assert problems("version = 1\n[[rules]\n", with_names=False)[0].startswith("not valid TOML")


def test_every_problem_is_reported_at_once():
    found = problems(rule(when='{ region = "XX" }', then='{ queue = "nope" }'))
    assert len(found) == 2


def test_nothing_in_the_file_is_evaluated(tmp_path):
    # Code in every place a value goes would leave a file behind if anything ran it; instead
    # it is a plain string that matches only itself and is copied as it is.
    marker = tmp_path / "evaluated"
    code = json.dumps(f"__import__('pathlib').Path({str(marker)!r}).touch()")
    ruleset = rules(
        rule(
            when=f"{{ widget_id = {code}, attributes.note = {code} }}",
            then=f"{{ callback_user_name = {code}, data = {{ note = {code} }} }}",
        )
    )
    plain = json.loads(code)
    assert answer(ruleset, widget_id=plain, attributes={"note": plain}) == {
        "callbackUserName": plain,
        "data": {"note": plain},
    }
    assert matched(ruleset, widget_id="123", attributes={"note": plain}) == []
    assert not marker.exists()


def test_schedule_with_preferred_agents_is_warned_about():
    same = rules(rule(then='{ schedule = "+1h", preferred_agents = ["alice"] }'))
    assert len(same.warnings) == 1
    assert "preferred-agent routing" in same.warnings[0]
    apart = rules(
        rule(then='{ schedule = "+1h" }', name="a")
        + rule(then='{ preferred_agents = ["alice"] }', name="b")
    )
    assert apart.warnings == ()  # "a" decides alone: the two never combine


def test_version_is_a_hash_of_the_content():
    assert rules(rule()).version == rules(rule()).version
    assert rules(rule()).version != rules(rule(name="other")).version


@pytest.mark.parametrize(
    ("delay", "horizon"),
    [("+999999999d", ""), ("+99999999999999999999d", ""), ("+31d", ""), ("+8d", "7")],
)
def test_a_delay_beyond_the_horizon_is_refused_at_load(delay, horizon):
    """It passed `check` and failed every matching decision (OverflowError), or crashed `check`
    itself with a traceback."""
    defaults = f"[defaults]\nschedule_horizon_days = {horizon}\n" if horizon else ""
    body = f'version = 1\n{defaults}[[rules]]\nname = "later"\nthen = {{ schedule = "{delay}" }}\n'
    with pytest.raises(RulesError, match=r"later.*beyond the scheduling horizon of \d+ days"):
        parse_rules(body, "r.toml")


def test_a_delay_within_the_horizon_is_scheduled_and_one_past_the_calendar_is_a_note():
    body = (
        "version = 1\n[defaults]\nschedule_horizon_days = 366\n"
        '[[rules]]\nname = "later"\nthen = { schedule = "+366d" }\n'
    )
    ruleset = parse_rules(body, "r.toml")
    assert answer(ruleset)["callbackScheduledTime"]
    end = datetime(9998, 12, 31, tzinfo=UTC)  # the last moment a decision can be made at
    decision = ruleset.decide(CallbackRequest(), end)
    assert decision.notes == ["schedule dropped: beyond the last date the calendar holds"]
