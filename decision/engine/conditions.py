"""Compiled `when` conditions: each one answers a yes/no question about a Subject."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from zoneinfo import ZoneInfo

from decision.engine.subject import Subject
from decision.engine.windows import WeeklyWindow


class Condition:
    """One `when` key. `key` is how the rules file spells it, for errors and explain."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def test(self, subject: Subject) -> bool:
        raise NotImplementedError


class OneOf(Condition):
    """An exact-match condition: the fact equals one of the listed values."""

    __slots__ = ("read", "values")

    def __init__(self, key: str, read: Callable[[Subject], object], values: frozenset) -> None:
        super().__init__(key)
        self.read = read
        self.values = values

    def test(self, subject: Subject) -> bool:
        return self.read(subject) in self.values


class Prefix(Condition):
    __slots__ = ("prefixes",)

    def __init__(self, key: str, prefixes: tuple[str, ...]) -> None:
        super().__init__(key)
        self.prefixes = prefixes

    def test(self, subject: Subject) -> bool:
        e164 = subject.number.e164
        return bool(e164) and e164.startswith(self.prefixes)


class Percent(Condition):
    __slots__ = ("percent",)

    def __init__(self, key: str, percent: float) -> None:
        super().__init__(key)
        self.percent = percent

    def test(self, subject: Subject) -> bool:
        return subject.bucket() < self.percent


class LocalTime(Condition):
    __slots__ = ("inside", "window", "zone")

    def __init__(self, key: str, window: WeeklyWindow, inside: bool, zone: ZoneInfo | None) -> None:
        super().__init__(key)
        self.window = window
        self.inside = inside
        self.zone = zone

    def test(self, subject: Subject) -> bool:
        return self.window.contains(subject.local_time(self.zone)) == self.inside


class Not(Condition):
    """`not = { ... }`: holds unless every inner condition holds."""

    __slots__ = ("inner",)

    def __init__(self, key: str, inner: Sequence[Condition]) -> None:
        super().__init__(key)
        self.inner = tuple(inner)

    def test(self, subject: Subject) -> bool:
        return not all(c.test(subject) for c in self.inner)
