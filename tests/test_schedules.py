"""Schedule groups evaluated as Architect does (docs/genesys-org-api.md section 6), with an exact
clock: the reference's table, DST both ways, holidays, next opening, and refused inputs."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from decision.engine.schedules import (
    END_GRACE,
    ScheduleError,
    ScheduleGroup,
    declared_group,
    evaluate,
    groups_from_snapshot,
    next_opening,
    parse_local,
    parse_schedule,
    public_holidays,
)

WEEKDAYS = "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,TU,WE,TH,FR"
OPEN_ID = "1a1a1a1a-0000-4000-8000-000000000001"
LUNCH_ID = "1a1a1a1a-0000-4000-8000-000000000002"
CHRISTMAS_ID = "1a1a1a1a-0000-4000-8000-000000000003"
GROUP_ID = "7d2f1a9e-3c4b-4e8a-9f10-2b6c5d4e3a21"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def schedule(ident: str, start: str, end: str, rrule: str = "", state: str = "active") -> dict:
    return {"id": ident, "name": ident, "state": state, "start": start, "end": end, "rrule": rrule}


def support_hours_us() -> dict:
    """The example group of the reference's 8.6, as the snapshot holds it."""
    return {
        "schedule_groups": [
            {
                "id": GROUP_ID,
                "name": "Support hours US",
                "state": "active",
                "time_zone": "America/New_York",
                "open": [OPEN_ID],
                "closed": [LUNCH_ID],
                "holiday": [CHRISTMAS_ID],
            }
        ],
        "schedules": [
            {
                "id": OPEN_ID,
                "name": "Weekdays 08-17",
                "state": "active",
                "start": "2026-01-05T08:00:00.000",
                "end": "2026-01-05T17:00:00.000",
                "rrule": WEEKDAYS,
            },
            {
                "id": LUNCH_ID,
                "name": "Lunch 12-13",
                "state": "active",
                "start": "2026-01-05T12:00:00.000",
                "end": "2026-01-05T13:00:00.000",
                "rrule": WEEKDAYS,
            },
            {
                "id": CHRISTMAS_ID,
                "name": "Christmas Day",
                "state": "active",
                "start": "2026-12-25T00:00:00.000",
                "end": "2026-12-26T00:00:00.000",
                "rrule": "FREQ=YEARLY;INTERVAL=1;BYMONTH=12;BYMONTHDAY=25",
            },
        ],
        "emergency_groups": [],
    }


def one_group(document: dict, **emergency: str) -> ScheduleGroup:
    groups = groups_from_snapshot(document, emergency)
    assert len(groups) == 1
    return next(iter(groups.values()))


UK_HOURS = """
[schedule_groups."UK hours"]
id = "uk-hours"
time_zone = "Europe/London"
open = [{ start = "2026-01-05T08:00:00", end = "2026-01-05T18:00:00", rrule = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR" }]
closed = [{ start = "2026-01-07T08:00:00", end = "2026-01-07T10:00:00", rrule = "FREQ=WEEKLY;BYDAY=WE" }]
holiday = [{ start = "2026-12-25T00:00:00", end = "2026-12-26T00:00:00", rrule = "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25" }]
holidays = "GB-ENG"
"""


def uk_hours(text: str = UK_HOURS) -> ScheduleGroup:
    (name, table), *_ = tomllib.loads(text)["schedule_groups"].items()
    return declared_group(name, table)


@pytest.mark.parametrize(
    ("instant", "state", "active"),
    [
        ("2026-12-07T15:00:00Z", "open", (OPEN_ID,)),  # Mon 10:00 EST
        ("2026-12-07T17:30:00Z", "closed", (LUNCH_ID,)),  # lunch wins over open
        ("2026-12-07T21:59:59Z", "open", (OPEN_ID,)),  # Mon 16:59:59
        ("2026-12-07T22:00:00Z", "closed", ()),  # Mon 17:00: end exclusive, default closed
        ("2026-12-05T15:00:00Z", "closed", ()),  # Sat 10:00
        ("2026-12-25T15:00:00Z", "holiday", (CHRISTMAS_ID,)),  # Fri 10:00, Christmas
        ("2026-03-06T12:30:00Z", "closed", ()),  # Fri 07:30 EST
        ("2026-03-09T12:30:00Z", "open", (OPEN_ID,)),  # Mon 08:30 EDT, after the DST change
    ],
)
def test_the_references_table(instant, state, active):
    result = evaluate(one_group(support_hours_us()), utc(instant))
    assert (result.state, result.active) == (state, active)


def test_ends_are_exclusive_and_lunch_ends_open_again():
    group = one_group(support_hours_us())
    assert timedelta(0) == END_GRACE
    assert evaluate(group, utc("2026-12-07T17:59:59.999999Z")).state == "closed"  # 12:59:59.999
    assert evaluate(group, utc("2026-12-07T18:00:00Z")).state == "open"  # 13:00
    assert evaluate(group, utc("2026-12-07T22:00:00Z")).reason == "default-closed"


def test_christmas_recurs_every_year_and_wins_on_a_weekday():
    group = one_group(support_hours_us())
    assert evaluate(group, utc("2030-12-25T15:00:00Z")).state == "holiday"  # a Wednesday
    assert evaluate(group, utc("2030-12-24T15:00:00Z")).state == "open"
    assert evaluate(group, utc("2030-12-26T05:00:00Z")).state == "closed"  # 00:00 on the 26th


def test_a_week_across_the_spring_change_keeps_wall_clock_hours():
    group = uk_hours()
    # London springs forward on Sunday 2026-03-29: 08:00 is 08:00Z before, 07:00Z after.
    assert evaluate(group, utc("2026-03-27T08:00:00Z")).state == "open"  # Fri 08:00 GMT
    assert evaluate(group, utc("2026-03-27T07:59:59Z")).state == "closed"
    assert evaluate(group, utc("2026-03-30T07:00:00Z")).state == "open"  # Mon 08:00 BST
    assert evaluate(group, utc("2026-03-30T06:59:59Z")).state == "closed"
    assert evaluate(group, utc("2026-03-30T17:00:00Z")).state == "closed"  # 18:00 BST
    assert evaluate(group, utc("2026-04-01T07:30:00Z")).state == "closed"  # Wed 08:30, closed


def test_a_week_across_the_autumn_change_keeps_wall_clock_hours():
    group = uk_hours()
    # Back to GMT on Sunday 2026-10-25.
    assert evaluate(group, utc("2026-10-23T07:00:00Z")).state == "open"  # Fri 08:00 BST
    assert evaluate(group, utc("2026-10-26T07:30:00Z")).state == "closed"  # Mon 07:30 GMT
    assert evaluate(group, utc("2026-10-26T08:00:00Z")).state == "open"  # Mon 08:00 GMT
    assert evaluate(group, utc("2026-10-26T17:59:59Z")).state == "open"


def night_group(start: str, end: str, zone: str = "Europe/London") -> ScheduleGroup:
    document = {
        "schedule_groups": [
            {"id": "n", "name": "Night", "state": "active", "time_zone": zone, "open": ["o"]}
        ],
        "schedules": [schedule("o", start, end, "FREQ=DAILY")],
    }
    return one_group(document)


def test_the_spring_gap_opens_when_the_clock_jumps_into_the_schedule():
    # Daily 01:30-02:30: on 2026-03-29 01:30 never happens (01:00 GMT jumps to 02:00 BST).
    group = night_group("2026-01-01T01:30:00", "2026-01-01T02:30:00")
    assert evaluate(group, utc("2026-03-29T00:59:59Z")).state == "closed"  # 00:59:59 GMT
    assert evaluate(group, utc("2026-03-29T01:00:00Z")).state == "open"  # 02:00 BST
    assert evaluate(group, utc("2026-03-29T01:30:00Z")).state == "closed"  # 02:30 BST
    # fold=0 would read 01:30 as GMT (01:30Z, 02:30 BST, already closed): the jump is the opening.
    opening = next_opening(group, utc("2026-03-29T00:30:00Z"), timedelta(days=2))
    assert opening.at == utc("2026-03-29T01:00:00Z")


def test_the_repeated_hour_counts_twice():
    # Daily 01:00-01:30: on 2026-10-25 01:00-02:00 happens in BST, then again in GMT.
    group = night_group("2026-01-01T01:00:00", "2026-01-01T01:30:00")
    assert evaluate(group, utc("2026-10-25T00:15:00Z")).state == "open"  # 01:15 BST
    assert evaluate(group, utc("2026-10-25T00:45:00Z")).state == "closed"  # 01:45 BST
    assert evaluate(group, utc("2026-10-25T01:15:00Z")).state == "open"  # 01:15 GMT
    opening = next_opening(group, utc("2026-10-25T00:45:00Z"), timedelta(days=2))
    assert opening.at == utc("2026-10-25T01:00:00Z")  # 01:00 GMT, the second time round
    later = next_opening(group, utc("2026-10-25T01:45:00Z"), timedelta(days=2))
    assert later.at == utc("2026-10-26T01:00:00Z")


def test_an_opening_inside_the_repeated_hour_is_found_the_second_time_round():
    group = night_group("2026-01-01T01:20:00", "2026-01-01T01:30:00")
    opening = next_opening(group, utc("2026-10-25T00:45:00Z"), timedelta(days=2))
    assert opening.at == utc("2026-10-25T01:20:00Z")  # 01:20 GMT (fold=1), not at the change


def test_a_schedule_crossing_midnight():
    group = night_group("2026-01-05T22:00:00", "2026-01-06T08:00:00")
    assert evaluate(group, utc("2026-12-07T21:59:59Z")).state == "closed"
    assert evaluate(group, utc("2026-12-07T23:00:00Z")).state == "open"
    assert evaluate(group, utc("2026-12-08T07:59:59Z")).state == "open"  # the night before
    assert evaluate(group, utc("2026-12-08T08:00:00Z")).state == "closed"
    assert evaluate(group, utc("2026-01-05T07:00:00Z")).state == "closed"  # before the first


def test_a_one_time_schedule():
    document = support_hours_us()
    document["schedule_groups"][0]["closed"].append("training")
    document["schedules"].append(schedule("training", "2026-12-09T14:00:00", "2026-12-09T15:30:00"))
    group = one_group(document)
    assert evaluate(group, utc("2026-12-09T19:00:00Z")).active == ("training",)  # 14:00 EST
    assert evaluate(group, utc("2026-12-09T20:30:00Z")).state == "open"  # 15:30
    assert evaluate(group, utc("2026-12-16T19:00:00Z")).state == "open"  # once only


def test_a_start_off_the_rule_is_not_an_occurrence():
    # A Sunday start with BYDAY=MO: Genesys moves such starts; the Sunday itself never counts.
    group = one_group(
        {
            "schedule_groups": [
                {"id": "g", "name": "g", "state": "active", "time_zone": "UTC", "open": ["o"]}
            ],
            "schedules": [
                schedule("o", "2026-01-04T09:00:00", "2026-01-04T10:00:00", "FREQ=WEEKLY;BYDAY=MO")
            ],
        }
    )
    assert evaluate(group, utc("2026-01-04T09:30:00Z")).state == "closed"
    assert evaluate(group, utc("2026-01-05T09:30:00Z")).state == "open"


def test_count_and_until_end_a_rule():
    def group_with(rrule: str) -> ScheduleGroup:
        document = {
            "schedule_groups": [
                {"id": "g", "name": "g", "state": "active", "time_zone": "Europe/Paris"}
            ],
            "schedules": [schedule("o", "2026-06-01T09:00:00", "2026-06-01T10:00:00", rrule)],
        }
        document["schedule_groups"][0]["open"] = ["o"]
        return one_group(document)

    counted = group_with("FREQ=DAILY;COUNT=2")
    assert evaluate(counted, utc("2026-06-02T07:30:00Z")).state == "open"  # 09:30 CEST
    assert evaluate(counted, utc("2026-06-03T07:30:00Z")).state == "closed"
    on_date = group_with("FREQ=DAILY;UNTIL=20260603")  # the day named is included
    assert evaluate(on_date, utc("2026-06-03T07:30:00Z")).state == "open"
    assert evaluate(on_date, utc("2026-06-04T07:30:00Z")).state == "closed"
    in_utc = group_with("FREQ=DAILY;UNTIL=20260603T065959Z")  # 08:59:59 CEST: the 3rd is out
    assert evaluate(in_utc, utc("2026-06-02T07:30:00Z")).state == "open"
    assert evaluate(in_utc, utc("2026-06-03T07:30:00Z")).state == "closed"
    assert (
        evaluate(group_with("FREQ=DAILY;UNTIL=20260603T070000Z"), utc("2026-06-03T07:30:00Z")).state
        == "open"
    )


def test_a_group_in_another_time_zone_than_the_caller():
    group = one_group(support_hours_us())
    # A London caller at 15:30 GMT on a Monday: 10:30 in New York, open there.
    at_london = datetime(2026, 12, 7, 15, 30, tzinfo=ZoneInfo("Europe/London"))
    assert evaluate(group, at_london).state == "open"
    at_tokyo = datetime(2026, 12, 8, 0, 30, tzinfo=ZoneInfo("Asia/Tokyo"))  # 10:30 New York
    assert evaluate(group, at_tokyo).state == "open"
    evening_london = datetime(2026, 12, 7, 22, 30, tzinfo=ZoneInfo("Europe/London"))
    assert evaluate(group, evening_london).state == "closed"  # 17:30 in New York
    opening = next_opening(group, evening_london, timedelta(days=3))
    assert opening.at == utc("2026-12-08T13:00:00Z")  # Tue 08:00 EST


def test_public_holidays_count_as_holiday_all_day():
    group = uk_hours()
    boxing = evaluate(group, utc("2027-12-28T10:00:00Z"))  # Tue, Boxing Day (observed)
    assert (boxing.state, boxing.reason) == ("holiday", "public-holiday")
    assert "Boxing Day (observed)" in boxing.note
    assert "GB-ENG" in boxing.note
    assert evaluate(group, utc("2027-12-27T23:59:59Z")).state == "holiday"
    assert evaluate(group, utc("2027-12-29T10:00:00Z")).state == "open"
    no_calendar = uk_hours(UK_HOURS.replace('holidays = "GB-ENG"', 'holidays = ""'))
    assert evaluate(no_calendar, utc("2027-12-28T10:00:00Z")).state == "open"


def test_the_english_calendar_holds_the_substitute_days():
    calendar = public_holidays("gb-eng")
    assert calendar.code == "GB-ENG"
    assert calendar.name_on(datetime(2027, 12, 27).date()) == "Christmas Day (observed)"
    assert calendar.name_on(datetime(2027, 12, 28).date()) == "Boxing Day (observed)"
    assert calendar.name_on(datetime(2026, 12, 28).date()) == "Boxing Day (observed)"
    assert calendar.name_on(datetime(2026, 12, 29).date()) is None


@pytest.mark.parametrize(
    ("after_hours", "opens"),
    [
        # Thu 24 Dec 2026 18:00: Christmas (holiday schedule), the weekend, Mon 28 (Boxing Day
        # observed) are skipped: Tue 29 Dec 08:00 GMT.
        ("2026-12-24T18:00:00Z", "2026-12-29T08:00:00Z"),
        # Fri 24 Dec 2027 18:00: Christmas and Boxing Day fall on the weekend, so Mon 27 and
        # Tue 28 are the English substitute bank holidays; Wed 29 opens at 10:00, after the
        # Wednesday closed morning.
        ("2027-12-24T18:00:00Z", "2027-12-29T10:00:00Z"),
    ],
)
def test_next_opening_from_christmas_eve_after_hours(after_hours, opens):
    opening = next_opening(uk_hours(), utc(after_hours), timedelta(days=14))
    assert (opening.at, opening.reason) == (utc(opens), "opens")


def test_next_opening_after_a_closed_period_inside_open_hours():
    group = one_group(support_hours_us())
    lunch = next_opening(group, utc("2026-12-07T17:30:00Z"), timedelta(days=1))
    assert lunch.at == utc("2026-12-07T18:00:00Z")  # 13:00, when lunch ends
    wednesday = next_opening(uk_hours(), utc("2026-12-09T07:00:00Z"), timedelta(days=1))
    assert wednesday.at == utc("2026-12-09T10:00:00Z")  # the Wednesday closed morning ends


def test_next_opening_is_none_when_open_or_beyond_the_horizon():
    group = one_group(support_hours_us())
    now = next_opening(group, utc("2026-12-07T15:00:00Z"), timedelta(days=1))
    assert (now.at, now.reason) == (None, "open-now")
    friday_night = utc("2026-12-04T23:00:00Z")
    far = next_opening(group, friday_night, timedelta(days=2))
    assert (far.at, far.reason) == (None, "beyond-horizon")
    assert "does not open within 2 days" in far.note
    assert next_opening(group, friday_night, timedelta(days=3)).at == utc("2026-12-07T13:00:00Z")
    exactly = next_opening(group, friday_night, utc("2026-12-07T13:00:00Z") - friday_night)
    assert exactly.at == utc("2026-12-07T13:00:00Z")  # the horizon's end is within it
    # Years ahead: occurrences are generated from a period just before, not from 2026; and the
    # horizon stops short of year 10000.
    at_the_end = next_opening(group, utc("9998-12-31T23:00:00Z"), timedelta(days=4000))
    assert at_the_end.at == utc("9999-01-01T13:00:00Z")  # Fri 08:00 EST
    assert evaluate(group, utc("9999-12-24T15:00:00Z")).state == "open"
    assert evaluate(group, utc("9999-12-25T15:00:00Z")).state == "holiday"


def test_a_group_whose_open_schedules_are_over_never_opens():
    document = support_hours_us()
    document["schedules"][0]["rrule"] = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;COUNT=3"
    group = one_group(document)
    assert evaluate(group, utc("2026-01-07T15:00:00Z")).state == "open"  # the third
    over = next_opening(group, utc("2026-01-07T23:00:00Z"), timedelta(days=365 * 50))
    assert (over.at, over.reason) == (None, "beyond-horizon")


def test_inactive_schedules_are_ignored():
    document = support_hours_us()
    document["schedules"][1]["state"] = "inactive"  # lunch
    group = one_group(document)
    assert evaluate(group, utc("2026-12-07T17:30:00Z")).state == "open"


@pytest.mark.parametrize(
    ("change", "note"),
    [
        ({"state": "inactive"}, "'Support hours US' is inactive"),
        ({"state": "deleted"}, "'Support hours US' is deleted"),
        ({"time_zone": ""}, "has no time zone"),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"closed": ["gone"]}, "its closed schedule 'gone' is not in the snapshot"),
    ],
)
def test_an_unusable_group_evaluates_closed_with_a_reason(change, note):
    document = support_hours_us()
    document["schedule_groups"][0].update(change)
    group = one_group(document)
    result = evaluate(group, utc("2026-12-07T15:00:00Z"))
    assert (result.state, result.reason) == ("closed", "unusable")
    assert note in result.note
    opening = next_opening(group, utc("2026-12-07T15:00:00Z"), timedelta(days=7))
    assert (opening.at, opening.reason) == (None, "unusable")


def test_a_malformed_schedule_makes_only_its_groups_unusable():
    document = support_hours_us()
    document["schedules"][1]["start"] = "2026-01-05T12:00:00Z"
    document["schedule_groups"].append(
        {"id": "other", "name": "Other", "state": "active", "time_zone": "UTC", "open": [OPEN_ID]}
    )
    groups = groups_from_snapshot(document)
    broken = evaluate(groups[GROUP_ID], utc("2026-12-07T15:00:00Z"))
    assert broken.state == "closed"
    assert "schedule 'Lunch 12-13' (1a1a1a1a-0000-4000-8000-000000000002): start" in broken.note
    assert evaluate(groups["other"], utc("2026-12-07T10:00:00Z")).state == "open"


def test_emergency_wins_when_the_paired_group_is_enabled():
    document = support_hours_us()
    document["emergency_groups"] = [
        {"id": "e1", "name": "Storm", "state": "active", "enabled": True},
        {"id": "e2", "name": "Drill", "state": "active", "enabled": False},
    ]
    on_christmas = utc("2026-12-25T15:00:00Z")
    assert evaluate(one_group(document, **{GROUP_ID: "e1"}), on_christmas).state == "emergency"
    assert evaluate(one_group(document, **{GROUP_ID: "e2"}), on_christmas).state == "holiday"
    assert evaluate(one_group(document), on_christmas).state == "holiday"  # no pairing


def test_the_declared_form_reads_as_the_issue_writes_it():
    group = uk_hours()
    assert (group.id, group.name, group.time_zone) == ("uk-hours", "UK hours", "Europe/London")
    assert evaluate(group, utc("2026-12-07T08:00:00Z")).active == (
        'schedule_groups."UK hours".open[0]',
    )
    local_datetimes = UK_HOURS.replace('"2026-01-05T08:00:00"', "2026-01-05T08:00:00")
    assert evaluate(uk_hours(local_datetimes), utc("2026-12-07T08:00:00Z")).state == "open"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-01-05T08:00:00Z", "no offset, no Z"),
        ("2026-01-05T08:00:00+01:00", "no offset, no Z"),
        ("2026-01-05T08:00:00.1234567", "not a wall-clock time"),
        ("2026-01-05T08:00", "not a wall-clock time"),
        ("2026-02-30T08:00:00", "not a real date and time"),
        (None, "not a wall-clock time"),
    ],
)
def test_bad_local_times_are_refused(text, message):
    with pytest.raises(ScheduleError, match=message):
        parse_local(text, "schedule 'x': start")


def test_fraction_digits_are_read_as_written():
    assert parse_local("2026-01-05T08:00:00", "t").microsecond == 0
    assert parse_local("2026-01-05T08:00:00.5", "t").microsecond == 500_000
    assert parse_local("2026-01-05T08:00:00.000", "t").microsecond == 0
    assert parse_local("2026-01-05T08:00:00.123456", "t").microsecond == 123_456


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"end": "2026-01-05T08:00:00"}, r"schedule 'Lunch' \(s1\): end .* is not after start"),
        ({"end": "2026-01-05T09:00:00Z"}, r"schedule 'Lunch' \(s1\): end: "),
        ({"rrule": "FREQ=HOURLY"}, "FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY"),
        ({"rrule": "BYDAY=MO"}, "FREQ must be one of"),
        (
            {"rrule": "FREQ=WEEKLY;BYDAY=XX"},
            r"schedule 'Lunch' \(s1\): rrule 'FREQ=WEEKLY;BYDAY=XX'",
        ),
        ({"rrule": "FREQ=DAILY;COUNT=2;UNTIL=20260101"}, "both COUNT and UNTIL"),
        ({"rrule": "FREQ=DAILY;UNTIL=2026-01-01"}, "UNTIL='2026-01-01': use YYYYMMDD"),
        ({"rrule": "DTSTART:20260101T000000\nRRULE:FREQ=DAILY"}, "without DTSTART"),
        ({"rrule": 7}, "rrule must be a string"),
    ],
)
def test_bad_schedules_are_refused_naming_the_schedule_and_field(fields, message):
    entry = {"id": "s1", "name": "Lunch", "start": "2026-01-05T08:00:00"}
    entry |= {"end": "2026-01-05T09:00:00", **fields}
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(entry)


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (
            ('time_zone = "Europe/London"', 'time_zone = "Europe/Londres"'),
            r'schedule_groups\."UK hours"\.time_zone: unknown time zone',
        ),
        (('time_zone = "Europe/London"', ""), r"time_zone: required"),
        (('id = "uk-hours"', 'id = "uk-hours"\nopening = 1'), "unknown key 'opening'"),
        (
            ('holidays = "GB-ENG"', 'holidays = "GB-XYZ"'),
            "GB has no subdivision 'XYZ'; valid: GB-ENG, GB-NIR, GB-SCT, GB-WLS",
        ),
        (('holidays = "GB-ENG"', 'holidays = "GX"'), "unknown country 'GX'; nearby: .*GB"),
        (('holidays = "GB-ENG"', "holidays = 1"), "holidays: a code like 'GB-ENG'"),
        (
            ('rrule = "FREQ=WEEKLY;BYDAY=WE" }', 'rrule = "FREQ=WEEKLY;BYDAY=WE", until = 1 }'),
            r"closed\[0\]: unknown key 'until'",
        ),
        (
            ('end = "2026-01-07T10:00:00"', 'end = "2026-01-07T07:00:00"'),
            r'"UK hours"\.closed\[0\]: end .* is not after start',
        ),
        (
            ('start = "2026-01-05T08:00:00"', "start = 2026-01-05T08:00:00Z"),
            r"open\[0\]: start: .* has an offset",
        ),
    ],
)
def test_bad_declared_groups_are_refused_precisely(replace, message):
    with pytest.raises(ScheduleError, match=message):
        uk_hours(UK_HOURS.replace(*replace))


def test_a_declared_group_needs_an_open_schedule():
    with pytest.raises(ScheduleError, match=r'"UK hours"\.open: a group needs at least one'):
        declared_group("UK hours", {"time_zone": "Europe/London", "open": []})


def test_the_moment_must_be_aware():
    with pytest.raises(ValueError, match="timezone-aware"):
        evaluate(one_group(support_hours_us()), datetime(2026, 12, 7, 15, 0))


def test_days_far_from_the_first_occurrence_are_cheap_to_ask_again():
    group = one_group(support_hours_us())
    for year in (2026, 2031, 2026):  # forward then back: occurrences are kept and bisected
        assert evaluate(group, utc(f"{year}-12-24T15:00:00Z")).state in ("open", "closed")
    assert evaluate(group, utc("2031-12-25T15:00:00Z")).state == "holiday"


def reference_state(group: ScheduleGroup, at: datetime) -> tuple[str, tuple[str, ...]]:
    """The reference's algorithm (6.3) written out literally, with dateutil's own `before`."""
    assert group.zone is not None
    local = at.astimezone(group.zone).replace(tzinfo=None)

    def active(s) -> bool:
        if s.state != "active":
            return False
        if not s.rrule:
            return s.start <= local < s.end
        occurrence = rrulestr(s.rrule, dtstart=s.start).before(local, inc=True)
        return occurrence is not None and occurrence <= local < occurrence + s.duration

    for kind in ("holiday", "closed", "open"):
        found = tuple(sorted(s.id for s in getattr(group, kind) if active(s)))
        if found:
            return kind, found
    return "closed", ()


def mixed_group(zone: str) -> ScheduleGroup:
    document = support_hours_us()
    entry = document["schedule_groups"][0]
    entry["time_zone"] = zone
    entry["open"] += ["night", "saturday"]
    entry["closed"] += ["training", "off"]
    document["schedules"] += [
        schedule("night", "2026-01-05T22:00:00", "2026-01-06T08:00:00", "FREQ=WEEKLY;BYDAY=TU,TH"),
        schedule(
            "saturday", "2026-01-03T01:30:00.5", "2026-01-03T02:15:00", "FREQ=WEEKLY;BYDAY=SA,SU"
        ),
        schedule("training", "2026-03-10T14:00:00", "2026-03-10T15:30:00"),
        schedule(
            "off",
            "2026-01-01T16:00:00",
            "2026-01-01T18:00:00",
            "FREQ=MONTHLY;BYMONTHDAY=1,15",
            "inactive",
        ),
    ]
    return one_group(document)


GROUPS = {zone: mixed_group(zone) for zone in ("America/New_York", "Europe/London", "UTC")}


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(sorted(GROUPS)),
    at=st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2028, 1, 31)),
)
def test_precomputed_days_agree_with_the_references_algorithm(zone, at):
    group, moment = GROUPS[zone], at.replace(tzinfo=UTC)
    result = evaluate(group, moment)
    assert (result.state, result.active) == reference_state(group, moment)


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(sorted(GROUPS)),
    at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
)
def test_the_next_opening_is_open_and_nothing_before_it_is(zone, at):
    group, moment = GROUPS[zone], at.replace(tzinfo=UTC)
    opening = next_opening(group, moment, timedelta(days=10))
    if opening.reason == "open-now":
        assert evaluate(group, moment).state == "open"
        return
    assert opening.at is not None
    assert opening.at > moment
    assert evaluate(group, opening.at).state == "open"
    # Nothing open in between, sampled each minute and just before the opening.
    probe = moment
    while probe < opening.at:
        assert evaluate(group, probe).state != "open", probe
        probe += timedelta(minutes=1)
    assert evaluate(group, opening.at - timedelta(microseconds=1)).state != "open"


def interval_group() -> ScheduleGroup:
    """Rules whose phase depends on DTSTART (INTERVAL, BYSETPOS, parts taken from DTSTART), to
    check that restarting a rule near a far moment keeps every occurrence where it was."""
    document = {
        "schedule_groups": [
            {
                "id": "g",
                "name": "Intervals",
                "state": "active",
                "time_zone": "Europe/London",
                "open": ["fortnight", "quarterly", "every-5-days", "biennial", "weekly-plain"],
                "closed": ["last-friday", "monthly-plain"],
                "holiday": ["leap-day"],
            }
        ],
        "schedules": [
            schedule(
                "fortnight",
                "2026-01-07T09:00:00",
                "2026-01-07T17:00:00",
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=WE,FR",
            ),
            schedule(
                "quarterly", "2026-02-10T10:00:00", "2026-02-11T10:00:00", "FREQ=MONTHLY;INTERVAL=3"
            ),
            schedule(
                "every-5-days",
                "2026-01-03T06:00:00",
                "2026-01-03T07:30:00",
                "FREQ=DAILY;INTERVAL=5",
            ),
            schedule(
                "biennial", "2027-07-01T00:00:00", "2027-07-03T00:00:00", "FREQ=YEARLY;INTERVAL=2"
            ),
            schedule(
                "weekly-plain", "2026-01-04T20:00:00", "2026-01-05T02:00:00", "FREQ=WEEKLY;WKST=SU"
            ),
            schedule(
                "last-friday",
                "2026-01-30T12:00:00",
                "2026-01-30T18:00:00",
                "FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1",
            ),
            schedule("monthly-plain", "2026-01-31T08:00:00", "2026-01-31T20:00:00", "FREQ=MONTHLY"),
            schedule(
                "leap-day",
                "2028-02-29T00:00:00",
                "2028-03-01T00:00:00",
                "FREQ=YEARLY;UNTIL=21000101",
            ),
        ],
    }
    return one_group(document)


INTERVALS = interval_group()


@settings(max_examples=30, deadline=None)
@given(at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2160, 12, 31)))
def test_far_moments_agree_with_the_references_algorithm(at):
    moment = at.replace(tzinfo=UTC)
    result = evaluate(INTERVALS, moment)
    assert (result.state, result.active) == reference_state(INTERVALS, moment)


@pytest.mark.parametrize("year", [2031, 2100, 2141])
def test_every_half_hour_of_a_far_season_agrees_with_dateutil_from_dtstart(year):
    group = interval_group()
    low, high = datetime(year, 1, 20), datetime(year, 3, 10)
    spans = {}
    for kind in ("holiday", "closed", "open"):
        spans[kind] = [
            (start, start + s.duration, s.id)
            for s in getattr(group, kind)
            for start in rrulestr(s.rrule, dtstart=s.start).between(
                low - s.duration, high, inc=True
            )
        ]
    zone = ZoneInfo("Europe/London")
    moment = low.replace(tzinfo=UTC)
    checked = set()
    while moment < high.replace(tzinfo=UTC) - timedelta(days=1):
        local = moment.astimezone(zone).replace(tzinfo=None)
        expected: tuple[str, tuple[str, ...]] = ("closed", ())
        for kind in ("holiday", "closed", "open"):
            found = tuple(sorted({i for a, b, i in spans[kind] if a <= local < b}))
            if found:
                expected = (kind, found)
                break
        result = evaluate(group, moment)
        assert (result.state, result.active) == expected, moment
        checked.add(expected[0])
        moment += timedelta(minutes=30)
    assert {"open", "closed"} <= checked


def test_a_rule_that_never_occurs_is_refused_and_a_rare_one_is_not():
    """FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30 passed check, then made dateutil walk day by day to
    the year 9999 on every decision asking about its group: 12-18 s each, the whole service
    stalled (adversary, round 3, N8). Now it is refused when the schedule is read; a snapshot
    group using it is unusable (closed, with the reason), never slow."""
    never = {
        "id": "s1",
        "name": "never",
        "state": "active",
        "start": "2026-01-01T08:00:00",
        "end": "2026-01-01T18:00:00",
        "rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    }
    with pytest.raises(
        ScheduleError, match="never occurs: no month it can fall in has that day of the month"
    ):
        parse_schedule(never)
    document = {
        "schedules": [never],
        "schedule_groups": [
            {
                "id": "g1",
                "name": "G",
                "state": "active",
                "time_zone": "Europe/London",
                "open": ["s1"],
            }
        ],
    }
    group = groups_from_snapshot(document)["g1"]
    assert "never occurs" in group.unusable
    assert evaluate(group, datetime(2026, 12, 1, tzinfo=UTC)).state == "closed"
    leap_day = {
        **never,
        "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "start": "2025-01-01T08:00:00",
        "end": "2025-01-01T18:00:00",
    }
    assert parse_schedule(leap_day).rrule  # once in four years is rare, not never
