"""Weekly windows (midnight, week wrap, DST) and number parsing with its cache."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from decision.engine import number_facts
from decision.engine.windows import WeeklyWindow

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def local(text: str, zone: ZoneInfo = LONDON) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.mark.parametrize(
    ("window", "moment", "open_"),
    [
        ("fri 22:00-02:00", "2026-11-27T23:30", True),  # Friday night
        ("fri 22:00-02:00", "2026-11-28T01:59", True),  # Saturday small hours belong to Friday
        ("fri 22:00-02:00", "2026-11-28T02:00", False),
        ("fri 22:00-02:00", "2026-11-27T01:00", False),  # Friday's own small hours do not
        ("sun 23:00-01:00", "2026-11-30T00:30", True),  # Sunday night wraps into Monday
        ("fri-mon 10:00-11:00", "2026-11-29T10:30", True),  # the range wraps over the weekend
        ("fri-mon 10:00-11:00", "2026-11-25T10:30", False),
        ("mon,wed 10:00-11:00", "2026-11-25T10:30", True),
        ("mon-fri 09:00-12:00 13:00-17:00", "2026-11-24T12:30", False),
        ("mon-fri 09:00-12:00 13:00-17:00", "2026-11-24T13:00", True),
        ("daily 00:00-24:00", "2026-11-29T23:59", True),
    ],
)
def test_window_contains(window, moment, open_):
    assert WeeklyWindow.parse(window).contains(local(moment)) is open_


def test_list_of_windows():
    window = WeeklyWindow.parse(["mon-fri 09:00-17:00", "sat 10:00-14:00"])
    assert window.contains(local("2026-11-28T11:00"))
    assert not window.contains(local("2026-11-29T11:00"))


def test_next_opening_after_midnight_window_and_over_the_weekend():
    window = WeeklyWindow.parse("mon-fri 09:00-17:00")
    friday_evening = local("2026-11-27T18:00", NEW_YORK)
    assert window.next_opening(friday_evening, NEW_YORK) == local("2026-11-30T09:00", NEW_YORK)
    assert window.next_opening(local("2026-11-24T10:00", NEW_YORK), NEW_YORK) is None
    early = local("2026-11-24T08:59", NEW_YORK)
    assert window.next_opening(early, NEW_YORK) == local("2026-11-24T09:00", NEW_YORK)


def test_next_opening_across_dst_keeps_local_nine_oclock():
    window = WeeklyWindow.parse("mon-fri 09:00-17:00")
    # Clocks go back in New York on Sunday 1 November 2026.
    saturday = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    opening = window.next_opening(saturday, NEW_YORK)
    assert opening.astimezone(UTC) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # 09:00 EST
    # Before the change the same local time was 13:00 UTC.
    assert window.next_opening(datetime(2026, 10, 24, 22, 0, tzinfo=UTC), NEW_YORK).astimezone(
        UTC
    ) == datetime(2026, 10, 26, 13, 0, tzinfo=UTC)


def test_window_inside_the_dst_night_still_matches_wall_clock():
    window = WeeklyWindow.parse("sun 01:00-03:00")
    # 29 March 2026 in London: 01:00 GMT jumps to 02:00 BST. 01:30 UTC is 02:30 BST.
    assert window.contains(datetime(2026, 3, 29, 1, 30, tzinfo=UTC).astimezone(LONDON))


@pytest.mark.parametrize(
    ("phone", "country_code", "e164", "region", "kind"),
    [
        ("07400123456", "+44", "+447400123456", "GB", "mobile"),
        ("7400 123456", "44", "+447400123456", "GB", "mobile"),
        ("0044 7400 123456", "", "+447400123456", "GB", "mobile"),
        ("+33 6 12 34 56 78", "+44", "+33612345678", "FR", "mobile"),
        ("(202) 555-0123", "+1", "+12025550123", "US", "fixed_line_or_mobile"),
        ("0800 123 4567", "+44", "+448001234567", "GB", "toll_free"),
        ("020 7946 0000", "0044", "+442079460000", "GB", "fixed_line"),
    ],
)
def test_number_facts(phone, country_code, e164, region, kind):
    facts = number_facts(phone, country_code)
    assert (facts.e164, facts.region, facts.number_type) == (e164, region, kind)
    assert facts.valid


def test_unparseable_numbers_give_empty_facts():
    facts = number_facts("hello", "+44")
    assert (facts.e164, facts.valid, facts.calling_code) == ("", False, 44)
    assert number_facts("123123123", "+123").e164 == ""


def test_default_region_reads_national_numbers_without_country_code():
    assert number_facts("07400123456", "", "GB").e164 == "+447400123456"
    assert number_facts("07400123456", "").e164 == ""


def test_number_facts_are_cached():
    number_facts.cache_clear()
    first = number_facts("07400123456", "+44")
    assert number_facts("07400123456", "+44") is first
    assert number_facts.cache_info().hits == 1
