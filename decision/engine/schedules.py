"""Genesys Architect schedule groups evaluated as Architect does: open, closed, holiday and
emergency at a given moment, and the next moment a group opens.

Pure: the moment is passed in. A group is built from the org snapshot (`schedule_groups` and
`schedules`) or from the rules file's declared form; the evaluation order is the reference's
(docs/genesys-org-api.md, section 6.3): Emergency > Holiday > Closed > Open > default Closed.
Schedule starts and ends are wall-clock times in the group's time zone (so 08:00 stays 08:00
across a DST change); the instant is turned into that wall clock and compared there.

Speed: a group precomputes each local day it is asked about as a few segments of constant state
(the boundaries are the day's occurrence starts and ends), so evaluating is one time-zone
conversion and one bisection, whatever the number of schedules."""

from __future__ import annotations

import bisect
import difflib
import functools
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rruleset, rrulestr

State = Literal["emergency", "holiday", "closed", "open"]
KINDS = ("holiday", "closed", "open")  # the schedule lists, in the order they win

# How long after its end an occurrence still counts. Zero: ends are exclusive, [start, end), as
# RFC 5545's DTEND is (Genesys does not document it), so 17:00:00 is outside 08:00-17:00.
# timedelta(microseconds=1) would make them inclusive; every comparison goes through it.
END_GRACE = timedelta(0)

# Sub-daily frequencies are refused: Architect's editor offers none, and one of them would make a
# group materialise an occurrence every second.
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_LOCAL = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?$")
_UNTIL = re.compile(r"^(\d{8})(?:T(\d{6})(Z?))?$")
_LATEST = datetime(9999, 12, 29, tzinfo=UTC)
_DAY_CACHE = 400  # local days kept per group: a year of next-opening searches, a few kB each


class ScheduleError(ValueError):
    """A schedule or schedule group that cannot be used; the message names it and the field."""


@dataclass(frozen=True, slots=True)
class GroupState:
    """A group's state at one moment, the schedules that made it so (Architect's "Output Active
    Schedules") and why, in a word (`reason`) and a sentence (`note`)."""

    state: State
    active: tuple[str, ...]
    reason: str  # emergency | holiday | public-holiday | closed | open | default-closed | unusable
    note: str = ""


@dataclass(frozen=True, slots=True)
class NextOpening:
    """When a group next opens: `at` in UTC, or None with `reason` open-now (Genesys reads no
    scheduled time as "call back now"), beyond-horizon, unusable or emergency."""

    at: datetime | None
    reason: Literal["opens", "open-now", "beyond-horizon", "unusable", "emergency"]
    note: str = ""


@dataclass(frozen=True, slots=True)
class Schedule:
    """One Architect schedule: its first occurrence [start, end) as naive wall-clock times, and
    an RRULE (without DTSTART) repeating it, or "" for a one-time schedule."""

    id: str
    name: str
    state: str
    start: datetime
    end: datetime
    rrule: str

    @property
    def label(self) -> str:
        return (
            f"schedule {self.name!r} ({self.id})"
            if self.name != self.id
            else f"schedule {self.id!r}"
        )

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


def parse_local(text: object, what: str) -> datetime:
    """A Genesys `LocalDateTime` ("2026-01-05T08:00:00.000", 0-6 fraction digits; a TOML local
    date-time is accepted as is). Offsets and Z are refused: the zone is the group's."""
    if isinstance(text, datetime):
        if text.tzinfo is not None:
            raise ScheduleError(f"{what}: {text.isoformat()} has an offset; use wall-clock time")
        return text
    match = _LOCAL.match(text) if isinstance(text, str) else None
    if not match:
        raise ScheduleError(
            f"{what}: {text!r} is not a wall-clock time like 2026-01-05T08:00:00.000 "
            "(no offset, no Z: the group's time zone applies)"
        )
    try:
        moment = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise ScheduleError(f"{what}: {text!r} is not a real date and time") from None
    return moment.replace(microsecond=int((match[2] or "0").ljust(6, "0")))


def _rrule_text(schedule: Schedule, zone: ZoneInfo) -> str:
    """The RRULE as dateutil reads it beside a naive DTSTART: UNTIL in the group's wall clock
    (a UTC `...Z` converted, a bare date meaning the end of that day, as the editor's "stop
    repeating on <date>" reads)."""
    parts = []
    for part in schedule.rrule.removeprefix("RRULE:").split(";"):
        key, _, value = part.partition("=")
        if key.upper() == "UNTIL":
            match = _UNTIL.match(value)
            if not match:
                raise ScheduleError(
                    f"{schedule.label}: rrule UNTIL={value!r}: use YYYYMMDD, YYYYMMDDTHHMMSS "
                    "or YYYYMMDDTHHMMSSZ"
                )
            day, clock, utc = match[1], match[2] or "235959", match[3]
            if utc:
                until = datetime.strptime(day + clock, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
                value = until.astimezone(zone).strftime("%Y%m%dT%H%M%S")
            else:
                value = f"{day}T{clock}"
        parts.append(f"{key}={value}")
    return ";".join(parts)


_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # 29 February: leap years


def _some_month_has_its_days(rule: rrule, freq: str, first_month: int) -> bool:
    """Whether a month the rule can reach has one of its BYMONTHDAY days (dateutil's parsed
    parts are private attributes: its stubs omit them)."""
    days = [*rule._bymonthday, *(-d for d in rule._bynmonthday)]  # type: ignore[attr-defined]
    if not days:
        return True
    months = set(rule._bymonth or range(1, 13))  # type: ignore[attr-defined]
    if freq == "MONTHLY":  # every INTERVAL months from the first: maybe not every month
        step = rule._interval  # type: ignore[attr-defined]
        months &= {(first_month - 1 + k * step) % 12 + 1 for k in range(12)}
    return any(day <= _MONTH_DAYS[month - 1] for month in months for day in days)


def _compile(schedule: Schedule, zone: ZoneInfo, label: str = "") -> rrule | None:
    if not schedule.rrule:
        return None
    try:
        return _compiled(schedule, zone)
    except ScheduleError as error:
        if label:  # the declared form names the schedule by where it is in the file
            raise ScheduleError(str(error).replace(schedule.label, label, 1)) from None
        raise


def _compiled(schedule: Schedule, zone: ZoneInfo) -> rrule:
    text = schedule.rrule.strip()
    if "\n" in text or "DTSTART" in text.upper():
        raise ScheduleError(f"{schedule.label}: rrule must be one RRULE line without DTSTART")
    keys = {p.partition("=")[0].upper() for p in text.removeprefix("RRULE:").split(";")}
    freq = re.search(r"(?:^|;)FREQ=([A-Z]+)", text.upper())
    if not freq or freq[1] not in FREQUENCIES:
        raise ScheduleError(
            f"{schedule.label}: rrule {schedule.rrule!r}: FREQ must be one of "
            + ", ".join(FREQUENCIES)
        )
    if {"COUNT", "UNTIL"} <= keys:
        raise ScheduleError(f"{schedule.label}: rrule has both COUNT and UNTIL; keep one")
    count = re.search(r"(?:^|;)COUNT=(\d+)", text.upper())
    if count and int(count[1]) > _MAX_COUNT:
        raise ScheduleError(
            f"{schedule.label}: rrule COUNT={count[1]}: at most {_MAX_COUNT:,}; use UNTIL"
        )
    try:
        rule = rrulestr(_rrule_text(schedule, zone), dtstart=schedule.start)
    except (ValueError, TypeError, KeyError) as error:
        raise ScheduleError(f"{schedule.label}: rrule {schedule.rrule!r}: {error}") from None
    assert isinstance(rule, rrule)
    # A rule that never occurs (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) makes dateutil walk day by
    # day to the year 9999 when asked for an occurrence, UNTIL or not: 12-18 s per decision,
    # the whole service stalled. Told apart here from its parts, which costs nothing.
    if not _some_month_has_its_days(rule, freq[1], schedule.start.month):
        raise ScheduleError(
            f"{schedule.label}: rrule {schedule.rrule!r} never occurs: no month it can fall in "
            "has that day of the month"
        )
    return rule


def parse_schedule(entry: Mapping[str, Any], what: str = "") -> Schedule:
    """A schedule from the snapshot's shape ({id, name, state, start, end, rrule}); errors name
    the schedule and the field."""
    ident = str(entry.get("id") or "")
    name = str(entry.get("name") or ident)
    label = what or (f"schedule {name!r} ({ident})" if name != ident else f"schedule {ident!r}")
    start = parse_local(entry.get("start"), f"{label}: start")
    end = parse_local(entry.get("end"), f"{label}: end")
    if end <= start:
        raise ScheduleError(f"{label}: end {end.isoformat()} is not after start")
    rule = entry.get("rrule") or ""
    if not isinstance(rule, str):
        raise ScheduleError(f"{label}: rrule must be a string like 'FREQ=WEEKLY;BYDAY=MO'")
    schedule = Schedule(ident, name, str(entry.get("state") or "active"), start, end, rule.strip())
    _compile(schedule, ZoneInfo("UTC"), label)  # refuse a bad rule now, whichever group uses it
    return schedule


class PublicHolidays:
    """Public holidays from the `holidays` package ("GB-ENG": ISO 3166 country, optional
    subdivision); a public holiday counts as holiday all day in the group's zone."""

    def __init__(self, code: str, country: str, subdivision: str | None) -> None:
        import holidays  # a large package: only groups that ask for public holidays load it

        self.code = code
        self._calendar = holidays.country_holidays(country, subdiv=subdivision)
        self._lock = threading.Lock()  # the calendar fills itself a year at a time

    def name_on(self, day: date) -> str | None:
        with self._lock:
            return self._calendar.get(day)

    def __repr__(self) -> str:
        return f"PublicHolidays({self.code!r})"


@functools.cache
def public_holidays(code: str) -> PublicHolidays:
    """The calendar for "GB-ENG", "US-NY", "FR"; unknown codes refused with the valid ones
    nearby."""
    import holidays

    supported: dict[str, list[str]] = holidays.list_supported_countries()
    country, _, subdivision = code.strip().upper().partition("-")
    if country not in supported:
        # The library also takes alpha-3 codes (GBR); suggest the two-letter ones rules use.
        two_letter = [c for c in supported if len(c) == 2]
        near = difflib.get_close_matches(country, two_letter, n=8, cutoff=0.5)
        near += sorted(c for c in two_letter if c[:1] == country[:1] and c not in near)
        raise ScheduleError(
            f"holidays {code!r}: unknown country {country!r}; nearby: {', '.join(near[:12])} "
            "(ISO 3166 code, optionally -SUBDIVISION, like GB-ENG)"
        )
    canonical = {s.upper(): s for s in supported[country]}
    if subdivision and subdivision not in canonical:
        valid = ", ".join(f"{country}-{s}" for s in supported[country]) or f"none, use {country}"
        raise ScheduleError(
            f"holidays {code!r}: {country} has no subdivision {subdivision!r}; valid: {valid}"
        )
    sub = canonical.get(subdivision) if subdivision else None
    return PublicHolidays(f"{country}-{sub}" if sub else country, country, sub)


_JUMP = timedelta(days=400)  # further than this past what is generated: restart nearer
_MAX_COUNT = 10_000  # a COUNT rule cannot restart midway; bound what it can generate


def _explicit_text(schedule: Schedule, text: str) -> str:
    """The RRULE with the parts dateutil would take from DTSTART written out, so that the same
    rule started at another DTSTART (aligned on a period) yields the same occurrences."""
    parts = {p.partition("=")[0].upper(): p for p in text.removeprefix("RRULE:").split(";")}
    start = schedule.start
    freq = parts["FREQ"].partition("=")[2].upper()
    extra = []
    if not {"BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", "BYEASTER"} & set(parts):
        if freq == "YEARLY":
            if "BYMONTH" not in parts:
                extra.append(f"BYMONTH={start.month}")
            extra.append(f"BYMONTHDAY={start.day}")
        elif freq == "MONTHLY":
            extra.append(f"BYMONTHDAY={start.day}")
        elif freq == "WEEKLY":
            extra.append("BYDAY=" + ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[start.weekday()])
    for key, value in (("BYHOUR", start.hour), ("BYMINUTE", start.minute)):
        if key not in parts:
            extra.append(f"{key}={value}")
    if "BYSECOND" not in parts:
        extra.append(f"BYSECOND={start.second}")
    return ";".join([*parts.values(), *extra])


class _Occurrences:
    """One schedule's occurrence starts near where it is asked about, generated once and
    bisected: dateutil's own `before` walks from DTSTART on every call, and a moment years
    ahead would walk through every occurrence in between. So a rule without COUNT is restarted
    at a period boundary (its own day, week, month or year, counted in INTERVALs from DTSTART)
    just before the moment asked, with the parts it took from DTSTART written out."""

    def __init__(self, schedule: Schedule, rule: rrule | None, text: str = "") -> None:
        self.duration = schedule.duration
        self._schedule = schedule
        self._rule = rule
        self._text = _explicit_text(schedule, text) if rule is not None and text else ""
        # dateutil keeps a parsed rule's parts only in private attributes (its stubs omit them).
        self._freq = rule._freq if rule is not None else 0  # type: ignore[attr-defined]
        self._interval = rule._interval if rule is not None else 1  # type: ignore[attr-defined]
        self._wkst = rule._wkst if rule is not None else 0  # type: ignore[attr-defined]
        self._restartable = rule is not None and rule._count is None  # type: ignore[attr-defined]
        self._origin: datetime | None = None  # None: generated from DTSTART
        self._starts: list[datetime] = [schedule.start]
        self._more: Iterator[datetime] | None = None
        if rule is not None:
            self._restart(None)
        self._lock = threading.Lock()

    def _restart(self, origin: datetime | None) -> None:
        rule: rrule | rruleset | None = self._rule
        if origin is not None:
            rule = rrulestr(self._text, dtstart=origin)
        assert rule is not None
        self._origin, self._starts, self._more = origin, [], iter(rule)

    def _period_start(self, near: datetime) -> datetime | None:
        """The start of the rule's period (in whole INTERVALs from DTSTART) one period before
        the one holding `near`, or None when that is not after DTSTART."""
        first, n = self._schedule.start.date(), self._interval
        day = near.date()
        if self._freq == 3:  # DAILY
            k = (day - first).days // n - 1
            anchor = first + timedelta(days=k * n)
        elif self._freq == 2:  # WEEKLY: weeks begin on WKST
            week = first - timedelta(days=(first.weekday() - self._wkst) % 7)
            k = (day - week).days // 7 // n - 1
            anchor = week + timedelta(weeks=k * n)
        elif self._freq == 1:  # MONTHLY
            k = ((day.year - first.year) * 12 + day.month - first.month) // n - 1
            months = first.month - 1 + k * n
            anchor = date(first.year + months // 12, months % 12 + 1, 1)
        else:  # YEARLY
            k = (day.year - first.year) // n - 1
            anchor = date(first.year + k * n, 1, 1)
        if k <= 0:
            return None
        return datetime.combine(anchor, time())

    def _cover(self, low: datetime, high: datetime) -> None:
        """Make the generated starts hold every occurrence starting in (low, high)."""
        if self._restartable:
            reached = self._starts[-1] if self._starts else self._origin
            behind = self._origin is not None and low < self._origin
            if behind or (reached is not None and low - reached > _JUMP) or reached is None:
                origin = self._period_start(low)
                if origin != self._origin and (behind or origin is not None):
                    self._restart(origin)
        while self._more is not None and (not self._starts or self._starts[-1] < high):
            following = next(self._more, None)
            if following is None:
                self._more = None
            else:
                self._starts.append(following)

    def over_before(self, local: datetime) -> bool:
        """Whether every occurrence has ended by `local` (a COUNT or UNTIL rule, a one-time
        schedule): nothing after it can open the group."""
        with self._lock:
            self._cover(local, local)
            return self._more is None and (
                not self._starts or self._starts[-1] + self.duration + END_GRACE <= local
            )

    def starting_between(self, low: datetime, high: datetime) -> list[datetime]:
        """Occurrence starts in (low, high)."""
        with self._lock:
            self._cover(low, high)
            starts = self._starts
            return starts[bisect.bisect_right(starts, low) : bisect.bisect_left(starts, high)]


@dataclass(frozen=True, slots=True)
class _Day:
    """One local day as segments: `states[i]` holds from `starts[i]` to the next start."""

    starts: list[datetime]
    states: list[GroupState]


@dataclass(eq=False, slots=True)
class ScheduleGroup:
    """An Architect schedule group. `unusable` (a sentence) makes it evaluate closed: not
    active, no time zone, a missing or malformed schedule (fail closed, as Architect's default
    path is Closed)."""

    id: str
    name: str
    state: str
    time_zone: str
    open: tuple[Schedule, ...] = ()
    closed: tuple[Schedule, ...] = ()
    holiday: tuple[Schedule, ...] = ()
    public_holidays: PublicHolidays | None = None
    emergency: bool = False  # the deployment's emergency group for it is enabled
    unusable: str = ""
    zone: ZoneInfo | None = field(default=None, init=False)
    _occurrences: dict[str, list[tuple[str, _Occurrences]]] = field(
        default_factory=dict, init=False
    )
    _days: dict[date, _Day] = field(default_factory=dict, init=False)
    _candidates: dict[date, list[datetime]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.unusable:
            return
        if self.state != "active":
            self.unusable = f"schedule group {self.name!r} is {self.state or 'not active'}"
            return
        if not self.time_zone:
            self.unusable = f"schedule group {self.name!r} has no time zone"
            return
        try:
            self.zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            self.unusable = f"schedule group {self.name!r}: unknown time zone {self.time_zone!r}"
            return
        try:
            for kind in KINDS:
                self._occurrences[kind] = [
                    (s.id, _Occurrences(s, _compile(s, self.zone), _rrule_text(s, self.zone)))
                    for s in getattr(self, kind)
                    if s.state == "active"
                ]
        except ScheduleError as error:
            self.unusable = f"schedule group {self.name!r}: {error}"

    def day(self, local_day: date) -> _Day:
        """The local day's segments, computed once (per group, per day)."""
        found = self._days.get(local_day)
        if found is None:
            if len(self._days) >= _DAY_CACHE:
                self._days.clear()
            found = self._days[local_day] = self._segments(local_day)
        return found

    def _segments(self, local_day: date) -> _Day:
        begin = datetime.combine(local_day, time())
        end = begin + timedelta(days=1)
        if self.public_holidays is not None:
            holiday = self.public_holidays.name_on(local_day)
            if holiday:
                note = f"{holiday} ({self.public_holidays.code} public holiday)"
                return _Day([begin], [GroupState("holiday", (), "public-holiday", note)])
        # Each occurrence as [start, stop), stop = end + grace; the day's boundaries are where
        # any starts or stops, and between two boundaries nothing changes.
        spans: dict[str, list[tuple[datetime, datetime, str]]] = {}
        points = {begin}
        for kind in KINDS:
            found = spans[kind] = []
            for ident, occurrences in self._occurrences[kind]:
                reach = occurrences.duration + END_GRACE
                low = begin - reach
                for start in occurrences.starting_between(low, end):
                    stop = start + reach
                    found.append((start, stop, ident))
                    points.update(p for p in (start, stop) if begin < p < end)
        starts: list[datetime] = []
        states: list[GroupState] = []
        for point in sorted(points):
            state = self._state_at(point, spans)
            if not states or states[-1] != state:
                starts.append(point)
                states.append(state)
        return _Day(starts, states)

    def _state_at(
        self, local: datetime, spans: dict[str, list[tuple[datetime, datetime, str]]]
    ) -> GroupState:
        for kind in KINDS:
            active = sorted({i for start, stop, i in spans[kind] if start <= local < stop})
            if active:
                return GroupState(kind, tuple(active), kind)  # type: ignore[arg-type]
        return GroupState("closed", (), "default-closed", "no schedule covers this time")

    def local(self, at_utc: datetime) -> datetime:
        """The group's wall-clock time (naive) at an aware instant."""
        if at_utc.tzinfo is None:
            raise ValueError("the moment must be timezone-aware")
        assert self.zone is not None
        return at_utc.astimezone(self.zone).replace(tzinfo=None)


_EMERGENCY = GroupState("emergency", (), "emergency", "the emergency group is enabled")


def evaluate(group: ScheduleGroup, at_utc: datetime) -> GroupState:
    """The group's state at an aware instant, exactly as the reference's algorithm (6.3)."""
    if group.emergency:
        return _EMERGENCY
    if group.unusable:
        return GroupState("closed", (), "unusable", group.unusable)
    local = group.local(at_utc)
    day = group.day(local.date())
    return day.states[bisect.bisect_right(day.starts, local) - 1]


def _instants(group: ScheduleGroup, local: datetime) -> list[datetime]:
    """The UTC instants whose wall clock in the group's zone is `local`: one, two in the
    repeated hour (fold 0 then 1), none in the spring-forward gap."""
    assert group.zone is not None
    found = []
    for fold in (0, 1):
        instant = local.replace(tzinfo=group.zone, fold=fold).astimezone(UTC)
        if group.local(instant) == local and instant not in found:
            found.append(instant)
    return found


def _offset(group: ScheduleGroup, instant: datetime) -> timedelta | None:
    assert group.zone is not None
    return instant.astimezone(group.zone).utcoffset()


def _transitions(group: ScheduleGroup, low: datetime, high: datetime) -> list[datetime]:
    """The instant in [low, high) (UTC, about a day apart) where the zone's offset changes, if
    any: there the wall clock jumps, and a group can open without any schedule starting."""
    before = _offset(group, low)
    if before == _offset(group, high):
        return []
    # Bisect to the second the offset changes (zones change it on whole seconds).
    low, high = low.replace(microsecond=0), high
    while high - low > timedelta(seconds=1):
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if _offset(group, middle) == before:
            low = middle
        else:
            high = middle
    return [high]


def next_opening(group: ScheduleGroup, at_utc: datetime, horizon: timedelta) -> NextOpening:
    """The first instant after `at_utc` when the group is open (holidays, closed schedules and
    public holidays skipped), if within `horizon`; at None when it is open now.

    A group can only become open where one of its local days has an open segment start (at
    each instant with that wall clock) or where the zone's offset changes (the wall clock
    jumps); each candidate is checked with `evaluate`, so the answer is what evaluating at that
    moment says. Days are precomputed and cached, so a search costs a few bisections a day."""
    now = evaluate(group, at_utc)
    if now.state == "open":
        return NextOpening(None, "open-now", "the group is open now")
    if group.emergency:
        return NextOpening(None, "emergency", now.note)
    if group.unusable:
        return NextOpening(None, "unusable", now.note)
    beyond = f"schedule group {group.name!r} does not open within {horizon}"
    if not group._occurrences["open"]:
        return NextOpening(None, "beyond-horizon", beyond)
    # The furthest moment the engine decides at is in year 9998; keep the day arithmetic in range.
    limit = at_utc + max(timedelta(0), min(horizon, _LATEST - at_utc))
    day = group.local(at_utc).date() - timedelta(days=1)  # a fall-back can reach back a day
    last_day = group.local(limit).date() + timedelta(days=1)
    best: datetime | None = None
    opens = [occurrences for _, occurrences in group._occurrences["open"]]
    while day <= last_day:
        if best is None and all(o.over_before(datetime.combine(day, time())) for o in opens):
            break  # every open schedule is over

        for candidate in _day_candidates(group, day):
            if candidate <= at_utc or candidate > limit:
                continue
            if best is not None and candidate >= best:
                break
            if evaluate(group, candidate).state == "open":
                best = candidate
                break
        if best is not None:
            # The next day can still hold an earlier instant, around an offset change only.
            last_day = min(last_day, day + timedelta(days=1))
        day += timedelta(days=1)
    if best is None:
        return NextOpening(None, "beyond-horizon", beyond)
    return NextOpening(best, "opens")


def _day_candidates(group: ScheduleGroup, local_day: date) -> list[datetime]:
    """The instants (UTC, sorted) where the group may open on a local day; kept per day, as
    the day's segments are."""
    found = group._candidates.get(local_day)
    if found is None:
        if len(group._candidates) >= _DAY_CACHE:
            group._candidates.clear()
        found = group._candidates[local_day] = _find_candidates(group, local_day)
    return found


def _find_candidates(group: ScheduleGroup, local_day: date) -> list[datetime]:
    assert group.zone is not None
    segments = group.day(local_day)
    candidates: list[datetime] = []
    for start, state in zip(segments.starts, segments.states, strict=True):
        if state.state == "open":
            candidates += _instants(group, start)
    midnight = datetime.combine(local_day, time(), tzinfo=group.zone).astimezone(UTC)
    candidates += _transitions(group, midnight - timedelta(hours=1), midnight + timedelta(hours=26))
    return sorted(candidates)


# Building groups: from the snapshot, and from the rules file's declared form.


def groups_from_snapshot(
    document: Mapping[str, Any], emergency_groups: Mapping[str, str] | None = None
) -> dict[str, ScheduleGroup]:
    """Every schedule group of an org snapshot, by id. A malformed or missing schedule does not
    stop the others: the groups using it are unusable (closed) with the error as their note.
    `emergency_groups` maps a schedule group id to the emergency group the deployment pairs it
    with (TrueEngage sends none); that group enabled and active makes it evaluate emergency."""
    schedules: dict[str, Schedule | ScheduleError] = {}
    for entry in document.get("schedules") or ():
        try:
            schedules[str(entry["id"])] = parse_schedule(entry)
        except ScheduleError as error:
            schedules[str(entry["id"])] = error
    enabled = {
        str(e["id"])
        for e in document.get("emergency_groups") or ()
        if e.get("enabled") and str(e.get("state") or "active") == "active"
    }
    pairs = emergency_groups or {}
    groups: dict[str, ScheduleGroup] = {}
    for entry in document.get("schedule_groups") or ():
        ident, name = str(entry["id"]), str(entry.get("name") or entry["id"])
        lists: dict[str, list[Schedule]] = {kind: [] for kind in KINDS}
        problems: list[str] = []
        for kind in KINDS:
            for ref in entry.get(kind) or ():
                found = schedules.get(str(ref))
                if found is None:
                    problems.append(f"its {kind} schedule {ref!r} is not in the snapshot")
                elif isinstance(found, ScheduleError):
                    problems.append(str(found))
                else:
                    lists[kind].append(found)
        groups[ident] = ScheduleGroup(
            ident,
            name,
            str(entry.get("state") or "active"),
            str(entry.get("time_zone") or ""),
            open=tuple(lists["open"]),
            closed=tuple(lists["closed"]),
            holiday=tuple(lists["holiday"]),
            emergency=pairs.get(ident) in enabled,
            unusable=f"schedule group {name!r}: " + "; ".join(problems) if problems else "",
        )
    return groups


_GROUP_KEYS = {"id", "time_zone", "open", "closed", "holiday", "holidays"}
_SCHEDULE_KEYS = {"name", "start", "end", "rrule"}


def declared_group(
    name: str, table: Mapping[str, Any], default_holidays: str = ""
) -> ScheduleGroup:
    """A group declared in the rules file (`[schedule_groups."UK hours"]`), for teams without
    API access: time_zone, open (at least one), closed, holiday as lists of {start, end, rrule},
    optional id (what TrueEngage sends) and holidays ("GB-ENG"; "" turns off the default).
    Anything wrong raises ScheduleError naming the key."""
    where = f"schedule_groups.{_toml_key(name)}"
    if not isinstance(table, Mapping):
        raise ScheduleError(f"{where}: expected a table with time_zone and open schedules")
    unknown = sorted(set(table) - _GROUP_KEYS)
    if unknown:
        raise ScheduleError(
            f"{where}: unknown key {unknown[0]!r}; use {', '.join(sorted(_GROUP_KEYS))}"
        )
    zone = table.get("time_zone")
    if not isinstance(zone, str) or not zone:
        raise ScheduleError(f"{where}.time_zone: required, an IANA zone like 'Europe/London'")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"{where}.time_zone: unknown time zone {zone!r}") from None
    ident = table.get("id", name)
    if not isinstance(ident, str) or not ident:
        raise ScheduleError(f"{where}.id: a non-empty string (the id TrueEngage sends)")
    lists: dict[str, tuple[Schedule, ...]] = {}
    for kind in KINDS:
        entries = table.get(kind, [])
        if not isinstance(entries, Sequence) or isinstance(entries, str):
            raise ScheduleError(f"{where}.{kind}: a list of {{ start, end, rrule }} tables")
        lists[kind] = tuple(
            _declared_schedule(f"{where}.{kind}[{index}]", entry)
            for index, entry in enumerate(entries)
        )
    if not lists["open"]:
        raise ScheduleError(f"{where}.open: a group needs at least one open schedule")
    code = table.get("holidays", default_holidays)
    if not isinstance(code, str):
        raise ScheduleError(f"{where}.holidays: a code like 'GB-ENG', or '' for none")
    try:
        calendar = public_holidays(code) if code else None
    except ScheduleError as error:
        raise ScheduleError(f"{where}.{error}") from None
    group = ScheduleGroup(
        ident,
        name,
        "active",
        zone,
        open=lists["open"],
        closed=lists["closed"],
        holiday=lists["holiday"],
        public_holidays=calendar,
    )
    if group.unusable:  # a rule that only fails in this zone (UNTIL...Z out of range)
        raise ScheduleError(f"{where}: {group.unusable}")
    return group


def _declared_schedule(where: str, entry: object) -> Schedule:
    if not isinstance(entry, Mapping):
        raise ScheduleError(f"{where}: expected {{ start = ..., end = ..., rrule = ... }}")
    unknown = sorted(set(entry) - _SCHEDULE_KEYS)
    if unknown:
        raise ScheduleError(
            f"{where}: unknown key {unknown[0]!r}; use {', '.join(sorted(_SCHEDULE_KEYS))}"
        )
    label = str(entry.get("name") or where)
    return parse_schedule({**entry, "id": where, "name": label}, where)


def _toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'
