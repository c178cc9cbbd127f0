"""Weekly opening windows ("mon-fri 09:00-17:00") and the next time one opens."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MINUTES_PER_DAY = 24 * 60
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
_RANGE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class WindowError(ValueError):
    """A window string that does not parse; the message says which part and why."""


def _day_indexes(spec: str) -> list[int]:
    if spec in ("daily", "every-day"):
        return list(range(7))
    days: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise WindowError(f"unknown day in {spec!r}: use mon..sun, ranges like mon-fri")
        start, end = DAYS.index(first), DAYS.index(last or first)
        # "fri-mon" wraps through the weekend.
        days.extend((start + i) % 7 for i in range((end - start) % 7 + 1))
    return days


def _minutes(hours: str, minutes: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        raise WindowError(f"bad time in {text!r}")
    return h * 60 + m


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Open intervals as minutes since Monday 00:00 local time, [start, end), end <= one week."""

    text: str
    intervals: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, text: str | list[str]) -> WeeklyWindow:
        """Parses "mon-fri 09:00-17:00", "sat 10:00-14:00", "fri 22:00-02:00" (the night after
        Friday), "mon-fri 09:00-12:00 13:00-17:00", or a list of such strings."""
        parts = [text] if isinstance(text, str) else list(text)
        if not parts or not all(isinstance(p, str) for p in parts):
            raise WindowError("a window is a string like 'mon-fri 09:00-17:00' or a list of them")
        intervals: list[tuple[int, int]] = []
        for part in parts:
            words = part.lower().split()
            if len(words) < 2:
                raise WindowError(f"{part!r}: expected days then times, like 'mon-fri 09:00-17:00'")
            days = _day_indexes(words[0])
            for word in words[1:]:
                match = _RANGE.match(word)
                if not match:
                    raise WindowError(f"{part!r}: {word!r} is not a time range like 09:00-17:00")
                start = _minutes(match[1], match[2], part)
                end = _minutes(match[3], match[4], part)
                if start in (end, _MINUTES_PER_DAY):
                    raise WindowError(f"{part!r}: {word!r} is empty")
                # An end before the start runs past midnight into the next day.
                length = end - start if end > start else end + _MINUTES_PER_DAY - start
                for day in days:
                    begin = day * _MINUTES_PER_DAY + start
                    stop = begin + length
                    if stop <= _MINUTES_PER_WEEK:
                        intervals.append((begin, stop))
                    else:  # Sunday night into Monday morning
                        intervals.append((begin, _MINUTES_PER_WEEK))
                        intervals.append((0, stop - _MINUTES_PER_WEEK))
        display = text if isinstance(text, str) else ", ".join(text)
        return cls(display, tuple(sorted(intervals)))

    def contains(self, local: datetime) -> bool:
        """Whether the window is open at this local wall-clock time."""
        minute = (
            local.weekday() * _MINUTES_PER_DAY
            + local.hour * 60
            + local.minute
            + (local.second + local.microsecond / 1e6) / 60
        )
        return any(start <= minute < end for start, end in self.intervals)

    def next_opening(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """The next moment the window opens in `zone`, or None if it is open at `now`.

        Openings are wall-clock times, so "09:00" stays 09:00 across a DST change; an opening
        that falls in a spring-forward gap lands one hour later, as zoneinfo resolves it."""
        local = now.astimezone(zone)
        if self.contains(local):
            return None
        today: date = local.date()
        minute_of_day = local.hour * 60 + local.minute
        best: datetime | None = None
        for start, _ in self.intervals:
            day, minute = divmod(start, _MINUTES_PER_DAY)
            ahead = (day - local.weekday()) % 7
            if ahead == 0 and minute <= minute_of_day:
                ahead = 7
            at = datetime.combine(
                today + timedelta(days=ahead), time(minute // 60, minute % 60), tzinfo=zone
            )
            if at > now and (best is None or at < best):
                best = at
        return best


def next_opening_skipping(
    window: WeeklyWindow,
    now: datetime,
    zone: ZoneInfo,
    is_holiday: Callable[[date], object],
    limit: timedelta = timedelta(days=400),
) -> datetime | None:
    """`window.next_opening`, with the days `is_holiday` names closed all day (public holidays):
    None when the window is open now on a working day. LookupError when it does not open
    within `limit` (every day it opens on is a holiday)."""
    moment, first = now, True
    while moment - now <= limit:
        local = moment.astimezone(zone)
        if is_holiday(local.date()):  # closed until the next local midnight
            moment = datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=zone)
            first = False
            continue
        if window.contains(local):
            return None if first else moment
        opens = window.next_opening(moment, zone)
        if opens is None:
            return None
        if not is_holiday(opens.astimezone(zone).date()):
            return opens
        moment, first = opens, False
    raise LookupError(f"the window opens only on holidays for {limit.days} days")
