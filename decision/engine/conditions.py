"""The `when` conditions, each kind declared once: its key, how it is compiled from TOML, the
fact it reads and whether rules can be indexed by it (`CONDITION_KINDS`), and the compiled
conditions that answer a yes/no question about a Subject."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from decision.engine.compiling import Compiler
from decision.engine.condition import Condition
from decision.engine.contact import CONTACT
from decision.engine.numbers import NUMBER_TYPE_NAMES, calling_code_of
from decision.engine.queue_load import compile_queue_load
from decision.engine.schedule_rules import (
    SCHEDULE_GROUPS,
    STATES,
    ScheduleGroups,
    group_fact,
    request_group,
    unknown_note,
)
from decision.engine.schedules import PublicHolidays, ScheduleGroup
from decision.engine.subject import Subject
from decision.engine.windows import WeeklyWindow

# -- compiled conditions ---------------------------------------------------------------------


class OneOf(Condition):
    """An exact-match condition: the fact equals one of the listed values. `indexable`: rules
    may be indexed by it (see RuleSet.build)."""

    __slots__ = ("indexable", "read", "values")

    def __init__(
        self,
        key: str,
        read: Callable[[Subject], object],
        values: frozenset,
        indexable: bool = False,
    ) -> None:
        super().__init__(key)
        self.read = read
        self.values = values
        self.indexable = indexable

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
    """`local_time`: a weekly window on the caller's (or a named zone's) wall clock; a public
    holiday of `holidays` is outside it all day."""

    __slots__ = ("holidays", "inside", "window", "zone")

    def __init__(
        self,
        key: str,
        window: WeeklyWindow,
        inside: bool,
        zone: ZoneInfo | None,
        holidays: PublicHolidays | None = None,
    ) -> None:
        super().__init__(key)
        self.window = window
        self.inside = inside
        self.zone = zone
        self.holidays = holidays

    def test(self, subject: Subject) -> bool:
        local = subject.local_time(self.zone)
        open_now = self.window.contains(local)
        if open_now and self.holidays is not None and self.holidays.name_on(local.date()):
            open_now = False
        return open_now == self.inside


class GroupIn(Condition):
    """`schedule_group`: the state of a schedule group at the decision's moment is one of
    `states`. `group` None: the request's scheduleGroupId; a group the rules do not know does
    not match, with a note."""

    __slots__ = ("group", "groups", "states")

    def __init__(
        self,
        key: str,
        states: frozenset[str],
        groups: ScheduleGroups,
        group: ScheduleGroup | None,
    ) -> None:
        super().__init__(key)
        self.states = states
        self.groups = groups
        self.group = group

    def test(self, subject: Subject) -> bool:
        if self.group is not None:
            fact = group_fact(subject, self.group, self.group.id)
        else:
            group, ident = request_group(subject, self.groups)
            fact = group_fact(subject, group, ident)
            if fact is None:
                unknown_note(subject, ident, "schedule_group does not match")
                return False
        return fact is not None and fact.state in self.states


class Not(Condition):
    """`not = { ... }`: holds unless every inner condition holds."""

    __slots__ = ("inner",)

    def __init__(self, key: str, inner: Sequence[Condition]) -> None:
        super().__init__(key)
        self.inner = tuple(inner)

    def test(self, subject: Subject) -> bool:
        return not all(c.test(subject) for c in self.inner)


# -- condition kinds -------------------------------------------------------------------------

Compiled = Condition | list[Condition] | None


@dataclass(frozen=True, slots=True)
class ConditionKind:
    """One `when` key of the rules file. `compile` turns its TOML value into conditions (or
    records a problem); `read` is the fact an exact match compares; `indexable`: rules can be
    looked up by it. `named`: the key takes `<key>.<name> = value` (what `<name>` stands for)."""

    key: str
    compile: Callable[[Compiler, str, ConditionKind, Any], Compiled]
    read: Callable[[Subject], object] | None = None
    indexable: bool = False
    named: str = ""

    def one_of(self, values: Iterable[object]) -> OneOf:
        """An exact match of this kind's fact; only for kinds that read one."""
        assert self.read is not None, f"{self.key} reads no single fact"
        return OneOf(self.key, self.read, frozenset(values), self.indexable)


def _exact(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    values = compiler.strings(where, value)
    return None if values is None else kind.one_of(values)


def _region(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    values = compiler.strings(where, value)
    if values is None:
        return None
    values = [v.upper() for v in values]
    bad = [v for v in values if v not in phonenumbers.SUPPORTED_REGIONS]
    if bad:
        compiler.problem(where, f"unknown region {bad[0]!r} (ISO 3166 codes like GB, US)")
    return kind.one_of(values)


def _number_type(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    values = compiler.strings(where, value)
    if values is None:
        return None
    bad = [v for v in values if v not in NUMBER_TYPE_NAMES.values()]
    if bad:
        known = ", ".join(sorted(NUMBER_TYPE_NAMES.values()))
        compiler.problem(where, f"unknown number type {bad[0]!r} (known: {known})")
    return kind.one_of(values)


def _queue(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    values = compiler.strings(where, value)
    if values is None:
        return None
    return kind.one_of(compiler.genesys_id(where, "queues", v) or "" for v in values)


def _named_or_as_written(names: str) -> Callable[[Compiler, str, ConditionKind, Any], Compiled]:
    """Scripts and schedule groups may be named. Without an org snapshot an unknown one is
    matched as written (TrueEngage may send what is not a Genesys id); with one, every value
    must be a name or an id of the org."""

    def compile_it(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
        values = compiler.strings(where, value)
        if values is None:
            return None
        if compiler.names.checked:
            return kind.one_of(compiler.genesys_id(where, names, v) or "" for v in values)
        return kind.one_of(compiler.names.resolve(names, v) or v for v in values)

    return compile_it


def _country_code(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    codes: set[int] = set()
    for item in value if isinstance(value, list) else [value]:
        code = calling_code_of(str(item)) if isinstance(item, str | int) else None
        if code is None or code not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            compiler.problem(where, f'unknown calling code {item!r} (like "+44" or 44)')
        else:
            codes.add(code)
    return kind.one_of(codes)


def _flag(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    if not isinstance(value, bool):
        compiler.problem(where, "expected true or false")
        return None
    return kind.one_of({value})


def _prefix(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    values = compiler.strings(where, value)
    if values is None:
        return None
    if not all(re.fullmatch(r"\+[1-9]\d{0,14}", v) for v in values):
        compiler.problem(where, 'expected E.164 prefixes like "+4420"')
    return Prefix(kind.key, tuple(values))


def _percent(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        compiler.problem(where, "expected a number from 0 to 100")
        return None
    return Percent(kind.key, float(value))


def _local_time(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    spec = {"in": value} if isinstance(value, str | list) else value
    if not isinstance(spec, dict):
        compiler.problem(where, 'expected { in = "mon-fri 09:00-17:00" } or { not_in = ... }')
        return None
    allowed = {"in", "not_in", "timezone", "holidays"}
    if set(spec) - allowed or len({"in", "not_in"} & set(spec)) != 1:
        compiler.problem(
            where, "expected exactly one of in / not_in, and optionally timezone and holidays"
        )
        return None
    inside = "in" in spec
    window = compiler.window(
        f"{where}.{'in' if inside else 'not_in'}", spec.get("in", spec.get("not_in"))
    )
    zone = compiler.zone(f"{where}.timezone", spec["timezone"]) if "timezone" in spec else None
    holidays = (
        compiler.public_holidays(f"{where}.holidays", spec["holidays"])
        if "holidays" in spec
        else compiler.holidays
    )
    if window is None:
        return None
    return LocalTime(kind.key, window, inside, zone, holidays)


_GROUP_FORMS = (
    'expected a state ("open", "closed", "holiday", "emergency"), a list of them, or '
    '{ name = "<group name or id>", state = [...] }'
)


def _schedule_group(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    compiler.reads(SCHEDULE_GROUPS)
    group: ScheduleGroup | None = None
    if isinstance(value, dict):
        if set(value) - {"name", "state"} or "state" not in value:
            compiler.problem(where, _GROUP_FORMS)
            return None
        if "name" in value:
            group = schedule_group_named(compiler, f"{where}.name", value["name"])
            if group is None:
                return None
        value = value["state"]
    if not isinstance(value, str | list):
        compiler.problem(where, _GROUP_FORMS)
        return None
    states = compiler.strings(where, value)
    if states is None:
        return None
    bad = [s for s in states if s not in STATES]
    if bad:
        compiler.problem(where, f"unknown state {bad[0]!r} (known: {', '.join(STATES)})")
        return None
    return GroupIn(kind.key, frozenset(states), compiler.schedule_groups, group)


def schedule_group_named(compiler: Compiler, where: str, value: Any) -> ScheduleGroup | None:
    """A group the rules name (by name, id or alias); check refuses one it cannot find."""
    if not isinstance(value, str) or not value:
        compiler.problem(where, "expected a schedule group name or id")
        return None
    group = compiler.schedule_groups.find(value, compiler.names)
    if group is None:
        compiler.problem(where, compiler.schedule_groups.why_not(value))
    return group


def _negation(compiler: Compiler, where: str, kind: ConditionKind, value: Any) -> Compiled:
    inner = compile_conditions(compiler, where, value)
    if isinstance(value, dict) and not value:
        compiler.problem(where, "`not` needs at least one condition")
    return Not(kind.key, inner)


def _attributes(compiler: Compiler, where: str, kind: ConditionKind, table: Any) -> Compiled:
    compiled: list[Condition] = []
    for name, value in _named_table(compiler, where, kind, table):
        values = compiler.strings(f"{where}.{name}", value)
        if values is not None:
            read = _attribute_reader(name)
            compiled.append(OneOf(f"{kind.key}.{name}", read, frozenset(values)))
    return compiled


def _contact(compiler: Compiler, where: str, kind: ConditionKind, table: Any) -> Compiled:
    compiler.reads(CONTACT)
    compiled: list[Condition] = []
    for name, value in _named_table(compiler, where, kind, table):
        key, place = f"{kind.key}.{name}", f"{where}.{name}"
        if name == "known":
            if not isinstance(value, bool):
                compiler.problem(place, "expected true or false")
            else:
                compiled.append(OneOf(key, _contact_known, frozenset({value})))
            continue
        # Directories are filled from CRM exports that write `VIP` where rules say "vip":
        # text matches ignoring case (Unicode case folding) unless the rule asks for `exact`.
        exact = isinstance(value, dict)
        if exact and set(value) != {"exact"}:
            compiler.problem(place, 'expected a value, a list of them, or { exact = "..." }')
            continue
        values = compiler.strings(
            f"{place}.exact" if exact else place, value.get("exact") if exact else value
        )
        if values is not None:
            folded = values if exact else [v.casefold() for v in values]
            compiled.append(OneOf(key, _contact_reader(name, fold=not exact), frozenset(folded)))
    return compiled


def _named_table(
    compiler: Compiler, where: str, kind: ConditionKind, table: Any
) -> list[tuple[str, Any]]:
    if not isinstance(table, dict) or not table:
        compiler.problem(where, f"expected {kind.key}.<name> = value")
        return []
    return list(table.items())


def _contact_known(subject: Subject) -> bool:
    return subject.fact(CONTACT) is not None


def _contact_reader(name: str, fold: bool) -> Callable[[Subject], object]:
    """`contact.<name>` of the subject, case-folded when `fold`; None when unknown."""

    def read(subject: Subject) -> object:
        contact = subject.fact(CONTACT)
        value = contact.value_of(name) if contact else None
        return value.casefold() if fold and value is not None else value

    return read


def _attribute_reader(name: str) -> Callable[[Subject], object]:
    return lambda s: s.request.attributes.get(name)


# Indexable kinds come first, most selective first: a rule is indexed by the first of its
# exact-match conditions in this order.
CONDITION_KINDS: tuple[ConditionKind, ...] = (
    ConditionKind("widget_id", _exact, lambda s: s.request.widget_id, indexable=True),
    ConditionKind("queue_id", _queue, lambda s: s.request.queue_id, indexable=True),
    ConditionKind(
        "script_id", _named_or_as_written("scripts"), lambda s: s.request.script_id, indexable=True
    ),
    ConditionKind(
        "schedule_group_id",
        _named_or_as_written("schedule_groups"),
        lambda s: s.request.schedule_group_id,
        indexable=True,
    ),
    ConditionKind("region", _region, lambda s: s.number.region, indexable=True),
    ConditionKind("country_code", _country_code, Subject.calling_code, indexable=True),
    ConditionKind("number_type", _number_type, lambda s: s.number.number_type, indexable=True),
    ConditionKind("valid", _flag, lambda s: s.number.valid),
    ConditionKind("prefix", _prefix),
    ConditionKind("percent", _percent),
    ConditionKind("local_time", _local_time),
    ConditionKind("schedule_group", _schedule_group),
    ConditionKind("not", _negation),
    ConditionKind("attributes", _attributes, named="key"),
    ConditionKind("contact", _contact, named="field"),
    ConditionKind("queue_load", compile_queue_load),
)
INDEX_ORDER: tuple[str, ...] = tuple(k.key for k in CONDITION_KINDS if k.indexable)
_BY_KEY = {kind.key: kind for kind in CONDITION_KINDS}
_KNOWN = ", ".join(sorted(f"{k.key}.<{k.named}>" if k.named else k.key for k in CONDITION_KINDS))


def compile_conditions(compiler: Compiler, where: str, when: Any) -> list[Condition]:
    """A rule's `when` table as conditions, all of which must hold."""
    if not isinstance(when, dict):
        compiler.problem(where, "expected a table of conditions")
        return []
    compiled: list[Condition] = []
    for key, value in when.items():
        head, dot, rest = key.partition(".")
        kind = _BY_KEY.get(head)
        if dot and kind is not None and kind.named:  # a quoted "contact.tier" key
            key, value = head, {rest: value}
        kind = _BY_KEY.get(key)
        if kind is None:
            compiler.problem(f"{where}.{key}", f"unknown condition (known: {_KNOWN})")
            continue
        condition = kind.compile(compiler, f"{where}.{key}", kind, value)
        if isinstance(condition, list):
            compiled.extend(condition)
        elif condition is not None:
            compiled.append(condition)
    return compiled
