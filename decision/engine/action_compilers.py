"""How each `then` key of the rules file is compiled from TOML into an action, refusing
anything Genesys would refuse. The keys are those of the contract's answer fields
(`contract.callback.ANSWER_FIELDS`); each field's `value` kind names its compiler here
(`VALUE_COMPILERS`), and limits come from the field's own JSON Schema."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from contract.callback import (
    ANSWER_FIELDS,
    MAX_DATA_KEY,
    MAX_DATA_VALUE,
    MAX_TEXT,
    PROTECTED_DATA_KEYS,
    AnswerField,
    is_e164,
)
from decision.engine import actions as act
from decision.engine.compiling import Compiler
from decision.engine.conditions import schedule_group_named
from decision.engine.contact import CONTACT
from decision.engine.on_queue import OPTION, apply_on_queue_only
from decision.engine.schedule_rules import SCHEDULE_GROUPS, GroupOpening

_DELAY = re.compile(r"^\+(\d+)([mhd])$")
_MINUTES_PER = {"m": 1, "h": 60, "d": 24 * 60}
# For each kind of Genesys id, the contact's field that holds such ids (or names) and how a rule
# refers to it: `language = "@contact.language"`, `skills = ["@contact.skills"]`,
# `preferred_agents = ["@contact"]`, `agent_owned = "@contact"` (the contact's first agent).
_FROM_CONTACT = {
    "languages": ("language", "@contact.language"),
    "skills": ("skills", "@contact.skills"),
    "agents": ("preferred_agents", "@contact"),
}


def _text(
    compiler: Compiler, where: str, value: Any, limit: int = MAX_TEXT
) -> str | act.ContactField | None:
    """A string, or `@contact.<field>` copied from the directory."""
    if not isinstance(value, str) or not value or len(value) > limit:
        compiler.problem(where, f"expected a non-empty string of at most {limit} characters")
        return None
    if value.startswith("@contact"):
        name = value.removeprefix("@contact.")
        if name == value or not name:
            compiler.problem(where, "use @contact.<field>, e.g. @contact.name")
            return None
        compiler.reads(CONTACT)
        return act.ContactField(name)
    return value


def _named_id(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    """One Genesys id, by name or id, or the contact's (`_FROM_CONTACT`)."""
    key, kind = field.then, field.names
    contact_field, reference = _FROM_CONTACT.get(kind, ("", ""))
    if reference and value == reference:
        compiler.reads(CONTACT)
        ref = (
            act.ContactList(contact_field)
            if contact_field == "preferred_agents"
            else act.ContactField(contact_field)
        )
        return act.SetValue(key, ref, compiler.names, kind)
    resolved = compiler.genesys_id(where, kind, value)
    return act.SetValue(key, resolved) if resolved else None


def _id_list(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    """Genesys ids, by name or id, and the contact's (`_FROM_CONTACT`): a list adds them to
    what other rules and [defaults] add; `{ only = [...] }` makes them the whole list, and
    `{ remove = [...] }` keeps them out of it."""
    key, kind = field.then, field.names
    contact_field, reference = _FROM_CONTACT[kind]
    mode = act.ADD
    if isinstance(value, dict):
        if len(value) != 1 or not {act.ONLY, act.REMOVE} >= set(value):
            compiler.problem(where, "expected a list, { only = [...] } or { remove = [...] }")
            return None
        ((mode, value),) = value.items()
        where = f"{where}.{mode}"
    # `only = []`: no entries at all, whatever other rules and [defaults] add.
    values = [] if mode == act.ONLY and value == [] else compiler.strings(where, value)
    if values is None:
        return None
    items: list[str | act.ContactList] = []
    for item in values:
        if item == reference:
            compiler.reads(CONTACT)
            items.append(act.ContactList(contact_field))
        else:
            resolved = compiler.genesys_id(where, kind, item)
            if resolved:
                items.append(resolved)
    return act.AddToList(key, tuple(items), compiler.names, kind, mode, compiler.origin)


def _free_text(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    text = _text(compiler, where, value, field.schema.get("maxLength", MAX_TEXT))
    return act.SetValue(field.then, text) if text is not None else None


def _boolean(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    if not isinstance(value, bool):
        compiler.problem(where, "expected true or false")
        return None
    return act.SetValue(field.then, value)


def _switch(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    """A boolean that does something only when true (`normalize_number`)."""
    action = _boolean(compiler, where, field, value)
    return action if value is True else None


def _integer(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    low, high = field.schema["minimum"], field.schema["maximum"]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        compiler.problem(where, f"expected a whole number from {low:,} to {high:,}")
        return None
    return act.SetValue(field.then, value)


def _e164(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    if not isinstance(value, str) or not is_e164(value):
        compiler.problem(where, 'expected an E.164 number like "+442071234567"')
        return None
    return act.SetValue(field.then, value)


def _enum(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    allowed = field.schema["enum"]
    if value not in allowed:
        compiler.problem(where, f"expected one of {', '.join(allowed)}")
        return None
    return act.SetValue(field.then, value)


def _data(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    key = field.then
    if not isinstance(value, dict):
        compiler.problem(where, "expected a table of strings")
        return None
    items: dict[str, str | act.ContactField] = {}
    for name, text in value.items():
        if name in PROTECTED_DATA_KEYS:
            compiler.problem(f"{where}.{name}", "belongs to TrueEngage and must never be set")
        elif not 0 < len(name) <= MAX_DATA_KEY:
            compiler.problem(f"{where}.{name}", f"keys are 1 to {MAX_DATA_KEY} characters")
        else:
            compiled = _text(compiler, f"{where}.{name}", text, MAX_DATA_VALUE)
            if compiled is not None:
                items[name] = compiled
    return act.SetData(key, items)


def _next_open(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    """`"next open"` (the request's schedule group) or `{ next_open = "<group>" }`."""
    compiler.reads(SCHEDULE_GROUPS)
    group = None
    if isinstance(value, dict):
        if set(value) != {"next_open"}:
            compiler.problem(where, 'expected { next_open = "<schedule group name or id>" }')
            return None
        group = schedule_group_named(compiler, f"{where}.next_open", value["next_open"])
        if group is None:
            return None
    opening = GroupOpening(compiler.schedule_groups, group, compiler.horizon)
    return act.SetValue(field.then, opening)


def _schedule(compiler: Compiler, where: str, field: AnswerField, value: Any) -> act.Action | None:
    key = field.then
    if value == "next open" or (isinstance(value, dict) and "next_open" in value):
        return _next_open(compiler, where, field, value)
    if isinstance(value, dict):
        if set(value) - {"next", "timezone", "holidays"} or "next" not in value:
            compiler.problem(
                where, 'expected { next = "<window>", timezone = "...", holidays = "..." }'
            )
            return None
        zone = (
            compiler.zone(f"{where}.timezone", value["timezone"]) if "timezone" in value else None
        )
        holidays = (
            compiler.public_holidays(f"{where}.holidays", value["holidays"])
            if "holidays" in value
            else compiler.holidays
        )
        window = compiler.window(f"{where}.next", value["next"])
        return act.SetValue(key, act.NextOpening(window, zone, holidays)) if window else None
    if isinstance(value, str) and value.startswith("next "):
        window = compiler.window(where, value.removeprefix("next ").strip())
        opening = act.NextOpening(window, None, compiler.holidays) if window else None
        return act.SetValue(key, opening) if opening else None
    match = _DELAY.match(value) if isinstance(value, str) else None
    if match is None:
        compiler.problem(
            where,
            'expected "next <window>", "next open", { next_open = "<group>" } or a delay like '
            '"+30m", "+2h", "+1d"',
        )
        return None
    # Compared in minutes before a timedelta is made: one of 10**20 days cannot be.
    minutes = int(match[1]) * _MINUTES_PER[match[2]]
    if minutes > compiler.horizon / timedelta(minutes=1):
        compiler.problem(
            where,
            f"{value} is beyond the scheduling horizon of {compiler.horizon.days} days "
            "([defaults] schedule_horizon_days): Genesys would never see it",
        )
        return None
    return act.SetValue(key, act.Delay(timedelta(minutes=minutes)))


ValueCompiler = Callable[[Compiler, str, AnswerField, Any], act.Action | None]

# An answer field's `value` kind -> how its `then` value is compiled.
VALUE_COMPILERS: dict[str, ValueCompiler] = {
    "id": _named_id,
    "queue": _named_id,
    "agent_owned": _named_id,
    "ids": _id_list,
    "text": _free_text,
    "integer": _integer,
    "boolean": _boolean,
    "normalize_number": _switch,
    "e164": _e164,
    "enum": _enum,
    "map": _data,
    "schedule": _schedule,
}
# `then` key -> its answer field, in the contract's order.
ACTION_FIELDS: dict[str, AnswerField] = {f.then: f for f in ANSWER_FIELDS if f.then}


def compile_actions(
    compiler: Compiler, where: str, then: Any, skip: tuple[str, ...] = (), origin: str = ""
) -> list[act.Action]:
    """A `then` table (or `[defaults]`, less its `skip` settings) as actions, in file order.
    `origin`: whose actions they are, as explain names them ("rule 'uk'", "[defaults]")."""
    compiler.origin = origin or where
    if not isinstance(then, dict):
        compiler.problem(where, "expected a table of actions")
        return []
    compiled: list[act.Action] = []
    for key, value in then.items():
        if key in skip or key == OPTION:
            continue
        field = ACTION_FIELDS.get(key)
        if field is None:
            known = ", ".join(sorted([*ACTION_FIELDS, OPTION]))
            compiler.problem(f"{where}.{key}", f"unknown action (known: {known})")
            continue
        action = VALUE_COMPILERS[field.value](compiler, f"{where}.{key}", field, value)
        if action is not None:
            compiled.append(action)
    return apply_on_queue_only(compiler, where, then, compiled)
