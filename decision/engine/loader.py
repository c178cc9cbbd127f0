"""Reads a rules file (TOML) into a RuleSet, refusing anything invalid with file, rule and key.

Nothing in the file is ever evaluated as code: every key maps onto a fixed condition or action."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

from decision.engine import actions as act
from decision.engine.conditions import Condition, LocalTime, Not, OneOf, Percent, Prefix
from decision.engine.names import KINDS, Names
from decision.engine.numbers import NUMBER_TYPE_NAMES, calling_code_of
from decision.engine.ruleset import Rule, RuleSet
from decision.engine.subject import FACT_READERS, Subject
from decision.engine.windows import WeeklyWindow, WindowError
from decision.genesys import (
    DELIVERY_MODES,
    E164,
    MAX_DATA_KEY,
    MAX_DATA_VALUE,
    MAX_TEXT,
    PRIORITY_RANGE,
    PROTECTED_DATA_KEYS,
    is_genesys_id,
)

DEFAULT_HORIZON_DAYS = 30
_DELAY = re.compile(r"^\+(\d+)([mhd])$")
_DELAY_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_DEFAULTS_SETTINGS = ("timezone", "region", "schedule_horizon_days")


class RulesError(ValueError):
    """A rules file that cannot go live; `problems` lists every reason, each with its place."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class _Compiler:
    """Turns one parsed TOML document into conditions and actions, collecting every problem."""

    def __init__(self, names: Names) -> None:
        self.names = names
        self.problems: list[str] = []
        self.uses_contact = False  # whether any rule reads the contact directory

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    # -- values ----------------------------------------------------------------------------
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
            self.problem(where, f"unknown {kind[:-1]} name {value!r} (not in [names.{kind}])")
        return resolved

    def text(self, where: str, value: Any, limit: int = MAX_TEXT) -> object | None:
        """A string, or `@contact.<field>` copied from the directory."""
        if not isinstance(value, str) or not value or len(value) > limit:
            self.problem(where, f"expected a non-empty string of at most {limit} characters")
            return None
        if value.startswith("@contact"):
            field = value.removeprefix("@contact.")
            if field == value or not field:
                self.problem(where, "use @contact.<field>, e.g. @contact.name")
                return None
            self.uses_contact = True
            return act.ContactField(field)
        return value

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

    # -- conditions --------------------------------------------------------------------------
    def conditions(self, where: str, when: Any) -> list[Condition]:
        if not isinstance(when, dict):
            self.problem(where, "expected a table of conditions")
            return []
        compiled: list[Condition] = []
        for key, value in when.items():
            condition = self.condition(where, key, value)
            if isinstance(condition, list):
                compiled.extend(condition)
            elif condition is not None:
                compiled.append(condition)
        return compiled

    def condition(self, base: str, key: str, value: Any) -> Condition | list[Condition] | None:
        head, dot, rest = key.partition(".")
        if head in ("attributes", "contact") and dot:  # a quoted "contact.tier" key
            value, key = {rest: value}, head
        if key in ("attributes", "contact"):
            return self.keyed(base, key, value)
        where = f"{base}.{key}"
        compile_one = self._CONDITIONS.get(key)
        if compile_one is None:
            known = ", ".join(sorted([*self._CONDITIONS, "attributes.<key>", "contact.<field>"]))
            self.problem(where, f"unknown condition (known: {known})")
            return None
        return compile_one(self, where, key, value)

    def one_of(self, where: str, key: str, value: Any) -> Condition | None:
        values = self.strings(where, value)
        if values is None:
            return None
        if key == "region":
            values = [v.upper() for v in values]
            bad = [v for v in values if v not in phonenumbers.SUPPORTED_REGIONS]
            if bad:
                self.problem(where, f"unknown region {bad[0]!r} (ISO 3166 codes like GB, US)")
        elif key == "number_type":
            bad = [v for v in values if v not in NUMBER_TYPE_NAMES.values()]
            if bad:
                known = ", ".join(sorted(NUMBER_TYPE_NAMES.values()))
                self.problem(where, f"unknown number type {bad[0]!r} (known: {known})")
        elif key == "queue_id":
            values = [self.genesys_id(where, "queues", v) or "" for v in values]
        elif key == "script_id":
            values = [self.names.resolve("scripts", v) or v for v in values]
        return OneOf(key, FACT_READERS[key], frozenset(values))

    def country_code(self, where: str, key: str, value: Any) -> Condition | None:
        items = value if isinstance(value, list) else [value]
        codes: set[int] = set()
        for item in items:
            code = calling_code_of(str(item)) if isinstance(item, str | int) else None
            if code is None or code not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                self.problem(where, f'unknown calling code {item!r} (like "+44" or 44)')
            else:
                codes.add(code)
        return OneOf(key, FACT_READERS[key], frozenset(codes))

    def flag(self, where: str, key: str, value: Any) -> Condition | None:
        if not isinstance(value, bool):
            self.problem(where, "expected true or false")
            return None
        return OneOf(key, FACT_READERS[key], frozenset({value}))

    def prefix(self, where: str, key: str, value: Any) -> Condition | None:
        values = self.strings(where, value)
        if values is None:
            return None
        if not all(re.fullmatch(r"\+[1-9]\d{0,14}", v) for v in values):
            self.problem(where, 'expected E.164 prefixes like "+4420"')
        return Prefix(key, tuple(values))

    def percent(self, where: str, key: str, value: Any) -> Condition | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            self.problem(where, "expected a number from 0 to 100")
            return None
        return Percent(key, float(value))

    def local_time(self, where: str, key: str, value: Any) -> Condition | None:
        spec = {"in": value} if isinstance(value, str | list) else value
        if not isinstance(spec, dict):
            self.problem(where, 'expected { in = "mon-fri 09:00-17:00" } or { not_in = ... }')
            return None
        unknown = set(spec) - {"in", "not_in", "timezone"}
        if unknown or len({"in", "not_in"} & set(spec)) != 1:
            self.problem(where, "expected exactly one of in / not_in, and optionally timezone")
            return None
        inside = "in" in spec
        window = self.window(
            f"{where}.{'in' if inside else 'not_in'}", spec.get("in", spec.get("not_in"))
        )
        zone = self.zone(f"{where}.timezone", spec["timezone"]) if "timezone" in spec else None
        if window is None:
            return None
        return LocalTime(key, window, inside, zone)

    def negation(self, where: str, key: str, value: Any) -> Condition | None:
        inner = self.conditions(where, value)
        if isinstance(value, dict) and not value:
            self.problem(where, "`not` needs at least one condition")
        return Not(key, inner)

    def keyed(self, where: str, head: str, table: Any) -> list[Condition]:
        if not isinstance(table, dict) or not table:
            self.problem(f"{where}.{head}", f"expected {head}.<name> = value")
            return []
        compiled: list[Condition] = []
        for name, value in table.items():
            key, place = f"{head}.{name}", f"{where}.{head}.{name}"
            self.uses_contact = self.uses_contact or head == "contact"
            if key == "contact.known":
                if not isinstance(value, bool):
                    self.problem(place, "expected true or false")
                    continue
                compiled.append(OneOf(key, _contact_known, frozenset({value})))
                continue
            values = self.strings(place, value)
            if values is None:
                continue
            read = _contact_reader(name) if head == "contact" else _attribute_reader(name)
            compiled.append(OneOf(key, read, frozenset(values)))
        return compiled

    _CONDITIONS: dict[str, Callable[..., Condition | None]] = {
        "region": one_of,
        "number_type": one_of,
        "widget_id": one_of,
        "queue_id": one_of,
        "script_id": one_of,
        "schedule_group_id": one_of,
        "country_code": country_code,
        "valid": flag,
        "prefix": prefix,
        "percent": percent,
        "local_time": local_time,
        "not": negation,
    }

    # -- actions -----------------------------------------------------------------------------
    def actions(self, where: str, then: Any, skip: tuple[str, ...] = ()) -> list[act.Action]:
        if not isinstance(then, dict):
            self.problem(where, "expected a table of actions")
            return []
        compiled: list[act.Action] = []
        for key, value in then.items():
            if key in skip:
                continue
            compile_one = self._ACTIONS.get(key)
            if compile_one is None:
                known = ", ".join(sorted(self._ACTIONS))
                self.problem(f"{where}.{key}", f"unknown action (known: {known})")
                continue
            action = compile_one(self, f"{where}.{key}", key, value)
            if action is not None:
                compiled.append(action)
        return compiled

    _ID_KINDS = {
        "queue": "queues",
        "script": "scripts",
        "language": "languages",
        "agent_owned": "agents",
    }

    def named_id(self, where: str, key: str, value: Any) -> act.Action | None:
        kind = self._ID_KINDS[key]
        if value in ("@contact", "@contact.language"):
            self.uses_contact = True
        if key == "agent_owned" and value == "@contact":
            return act.SetValue(key, act.ContactList("preferred_agents"), self.names, kind)
        if key == "language" and value == "@contact.language":
            return act.SetValue(key, act.ContactField("language"), self.names, kind)
        resolved = self.genesys_id(where, kind, value)
        return act.SetValue(key, resolved) if resolved else None

    def id_list(self, where: str, key: str, value: Any) -> act.Action | None:
        kind, reference = (
            ("skills", "@contact.skills") if key == "skills" else ("agents", "@contact")
        )
        values = self.strings(where, value)
        if values is None:
            return None
        items: list[object] = []
        for item in values:
            if item == reference:
                self.uses_contact = True
                items.append(act.ContactList(key))
            else:
                resolved = self.genesys_id(where, kind, item)
                if resolved:
                    items.append(resolved)
        return act.AddToList(key, tuple(items), self.names, kind)

    def free_text(self, where: str, key: str, value: Any) -> act.Action | None:
        text = self.text(where, value)
        return act.SetValue(key, text) if text is not None else None

    def boolean(self, where: str, key: str, value: Any) -> act.Action | None:
        if not isinstance(value, bool):
            self.problem(where, "expected true or false")
            return None
        return act.SetValue(key, value) if value or key != "normalize_number" else None

    def priority(self, where: str, key: str, value: Any) -> act.Action | None:
        low, high = PRIORITY_RANGE
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(where, f"expected a whole number from {low:,} to {high:,}")
            return None
        return act.SetValue(key, value)

    def caller_id(self, where: str, key: str, value: Any) -> act.Action | None:
        if not isinstance(value, str) or not E164.match(value):
            self.problem(where, 'expected an E.164 number like "+442071234567"')
            return None
        return act.SetValue(key, value)

    def delivery_mode(self, where: str, key: str, value: Any) -> act.Action | None:
        if value not in DELIVERY_MODES:
            self.problem(where, f"expected one of {', '.join(DELIVERY_MODES)}")
            return None
        return act.SetValue(key, value)

    def data(self, where: str, key: str, value: Any) -> act.Action | None:
        if not isinstance(value, dict):
            self.problem(where, "expected a table of strings")
            return None
        items: dict[str, object] = {}
        for name, text in value.items():
            if name in PROTECTED_DATA_KEYS:
                self.problem(f"{where}.{name}", "belongs to TrueEngage and must never be set")
            elif not 0 < len(name) <= MAX_DATA_KEY:
                self.problem(f"{where}.{name}", f"keys are 1 to {MAX_DATA_KEY} characters")
            else:
                compiled = self.text(f"{where}.{name}", text, MAX_DATA_VALUE)
                if compiled is not None:
                    items[name] = compiled
        return act.SetData(key, items)

    def schedule(self, where: str, key: str, value: Any) -> act.Action | None:
        if isinstance(value, dict):
            if set(value) - {"next", "timezone"} or "next" not in value:
                self.problem(where, 'expected { next = "<window>", timezone = "..." }')
                return None
            zone = (
                self.zone(f"{where}.timezone", value["timezone"]) if "timezone" in value else None
            )
            window = self.window(f"{where}.next", value["next"])
            return act.SetValue(key, act.NextOpening(window, zone)) if window else None
        if isinstance(value, str) and value.startswith("next "):
            window = self.window(where, value.removeprefix("next ").strip())
            return act.SetValue(key, act.NextOpening(window, None)) if window else None
        match = _DELAY.match(value) if isinstance(value, str) else None
        if match is None:
            self.problem(where, 'expected "next <window>" or a delay like "+30m", "+2h", "+1d"')
            return None
        delay = timedelta(**{_DELAY_UNITS[match[2]]: int(match[1])})
        return act.SetValue(key, act.Delay(delay))

    _ACTIONS: dict[str, Callable[..., act.Action | None]] = {
        "queue": named_id,
        "script": named_id,
        "language": named_id,
        "agent_owned": named_id,
        "skills": id_list,
        "preferred_agents": id_list,
        "priority": priority,
        "label": free_text,
        "skill_expression": free_text,
        "callback_user_name": free_text,
        "caller_id_name": free_text,
        "caller_id": caller_id,
        "validate_callback_numbers": boolean,
        "normalize_number": boolean,
        "customer_first_callback_delivery_mode": delivery_mode,
        "data": data,
        "schedule": schedule,
    }


def _contact_known(subject: Subject) -> bool:
    return subject.contact is not None


def _contact_reader(name: str) -> Callable[[Subject], object]:
    return lambda s: s.contact.field(name) if s.contact else None


def _attribute_reader(name: str) -> Callable[[Subject], object]:
    return lambda s: s.request.attributes.get(name)


def _names(compiler: _Compiler, raw: Any) -> Names:
    if not isinstance(raw, dict):
        compiler.problem("names", "expected tables like [names.queues]")
        return Names({})
    for kind, table in raw.items():
        if kind not in KINDS:
            compiler.problem(f"names.{kind}", f"unknown kind of name (known: {', '.join(KINDS)})")
        elif not isinstance(table, dict):
            compiler.problem(f"names.{kind}", 'expected name = "<id>" pairs')
        else:
            for name, value in table.items():
                if not isinstance(value, str) or not is_genesys_id(value):
                    compiler.problem(f"names.{kind}.{name}", "expected a Genesys id (a UUID)")
    return Names({k: v for k, v in raw.items() if isinstance(v, dict)})


def _schedule_warnings(rules: list[tuple[Rule, set[str]]]) -> list[str]:
    """Genesys ignores preferred agents on scheduled callbacks: flag rules that may combine them."""
    warnings: list[str] = []
    agents = {"preferred_agents", "agent_owned"}
    for i, (rule, sets) in enumerate(rules):
        reach = [sets]
        if rule.keep_going:
            reach += [later for _, later in rules[i + 1 :]]
        schedules = any("schedule" in s for s in reach)
        prefers = any(agents & s for s in reach)
        if schedules and prefers and ("schedule" in sets or agents & sets):
            warnings.append(
                f"rule {rule.name!r}: schedules a callback and sets preferred agents; Genesys "
                "does not apply preferred-agent routing to scheduled callbacks"
            )
    return warnings


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Compiles a rules file's text; raises RulesError listing every problem found."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RulesError(source, [f"not valid TOML: {error}"]) from None
    compiler = _Compiler(Names({}))
    if doc.get("version") != 1:
        compiler.problem("version", "expected `version = 1`")
    for key in set(doc) - {"version", "names", "defaults", "rules"}:
        compiler.problem(key, "unknown top-level key (known: version, names, defaults, rules)")
    compiler.names = _names(compiler, doc.get("names", {}))

    raw_defaults = doc.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        compiler.problem("defaults", "expected a table")
        raw_defaults = {}
    zone_name = raw_defaults.get("timezone", "UTC")
    compiler.zone("defaults.timezone", zone_name)
    region = raw_defaults.get("region", "")
    if region and region not in phonenumbers.SUPPORTED_REGIONS:
        compiler.problem("defaults.region", f"unknown region {region!r}")
    horizon = raw_defaults.get("schedule_horizon_days", DEFAULT_HORIZON_DAYS)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= 366:
        compiler.problem(
            "defaults.schedule_horizon_days", "expected a whole number of days, 1..366"
        )
        horizon = DEFAULT_HORIZON_DAYS
    defaults = compiler.actions("defaults", raw_defaults, skip=_DEFAULTS_SETTINGS)

    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        compiler.problem("rules", "expected [[rules]] tables")
        raw_rules = []
    rules: list[tuple[Rule, set[str]]] = []
    seen: set[str] = set()
    for number, raw in enumerate(raw_rules, start=1):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"rule {name!r}" if isinstance(name, str) and name else f"rule #{number}"
        if not isinstance(raw, dict):
            compiler.problem(where, "expected a table")
            continue
        if not isinstance(name, str) or not name:
            compiler.problem(where, "needs a non-empty `name`")
        elif name in seen:
            compiler.problem(where, "duplicate rule name")
        seen.add(str(name))
        for key in set(raw) - {"name", "when", "then", "continue", "description"}:
            compiler.problem(
                f"{where}: {key}", "unknown key (known: name, description, when, then, continue)"
            )
        if "then" not in raw:
            compiler.problem(where, "needs a `then` table of actions")
        keep_going = raw.get("continue", False)
        if not isinstance(keep_going, bool):
            compiler.problem(f"{where}: continue", "expected true or false")
        conditions = compiler.conditions(f"{where}: when", raw.get("when", {}))
        actions = compiler.actions(f"{where}: then", raw.get("then", {}))
        then = raw.get("then") if isinstance(raw.get("then"), dict) else {}
        rules.append(
            (Rule(str(name), tuple(conditions), tuple(actions), keep_going is True), set(then))
        )

    if compiler.problems:
        raise RulesError(source, compiler.problems)
    return RuleSet.build(
        source=source,
        version=hashlib.sha256(text.encode()).hexdigest()[:16],
        rules=tuple(rule for rule, _ in rules),
        defaults=tuple(defaults),
        default_zone=zone_name,
        default_region=region,
        horizon=timedelta(days=horizon),
        warnings=tuple(_schedule_warnings(rules)),
        uses_contact=compiler.uses_contact,
    )
