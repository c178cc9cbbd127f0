"""What compiling a rules file shares: where problems are collected, and the checked values
(strings, Genesys ids, windows, time zones) that conditions and actions are made of."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from decision.engine.facts import Fact
from decision.engine.names import Names
from decision.engine.schedule_rules import ScheduleGroups
from decision.engine.schedules import PublicHolidays, ScheduleError, public_holidays
from decision.engine.windows import WeeklyWindow, WindowError


class RulesError(ValueError):
    """A rules file that cannot go live; `problems` lists every reason, each with its place."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class Compiler:
    """Collects every problem of one file (so all are reported at once) and reads its values."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.problems: list[str] = []
        self.warnings: list[str] = []  # what `check` warns about (the rules still load)
        self.needs: set[Fact[Any]] = set()  # the outside facts the rules read
        # How far ahead a callback may be scheduled ([defaults] schedule_horizon_days).
        self.horizon = timedelta(days=30)
        # Public holidays every window and `next` schedule skips ([defaults] holidays).
        self.holidays: PublicHolidays | None = None
        # The schedule groups the rules may name (declared in the file, then the snapshot's).
        self.schedule_groups = ScheduleGroups((), {})
        self.origin = ""  # whose actions are being compiled ("rule 'uk'"), for explain's notes

    def reads(self, fact: Fact[Any]) -> None:
        """A condition or action being compiled reads this outside fact."""
        self.needs.add(fact)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def strings(self, where: str, value: Any) -> list[str] | None:
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str) and v for v in items):
            self.problem(where, "expected a non-empty string or a list of them")
            return None
        return items

    def genesys_id(self, where: str, kind: str, value: Any) -> str | None:
        if not isinstance(value, str) or not value:
            self.problem(where, f"expected a {kind[:-1]} name or id")
            return None
        resolved = self.names.resolve(kind, value)
        if resolved is None:
            self.problem(where, self.names.unknown(kind, value))
            return None
        for problem in self.names.id_problems(kind, resolved):
            self.problem(where, problem)
        for warning in self.names.warnings(kind, resolved):
            self.warnings.append(f"{where}: {warning}")
        return resolved

    def window(self, where: str, value: Any) -> WeeklyWindow | None:
        try:
            return WeeklyWindow.parse(value)
        except WindowError as error:
            self.problem(where, str(error))
            return None

    def zone(self, where: str, value: Any) -> ZoneInfo | None:
        try:
            if not isinstance(value, str) or not value:
                raise ValueError
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(where, f"unknown time zone {value!r} (use IANA names like Europe/London)")
            return None

    def public_holidays(self, where: str, value: Any) -> PublicHolidays | None:
        """`holidays = "GB-ENG"` (None for ""); an unknown code is a problem naming what is
        valid nearby."""
        if not isinstance(value, str):
            self.problem(where, 'expected a code like "GB-ENG", or "" for none')
            return None
        try:
            return public_holidays(value) if value.strip() else None
        except ScheduleError as error:
            self.problem(where, str(error))
            return None
