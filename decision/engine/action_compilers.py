"""How each `then` key of the rules file is compiled from TOML into an action, refusing
anything Genesys would refuse (`ACTION_COMPILERS`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from contract.callback import (
    DELIVERY_MODES,
    MAX_DATA_KEY,
    MAX_DATA_VALUE,
    MAX_TEXT,
    PRIORITY_RANGE,
    PROTECTED_DATA_KEYS,
    is_e164,
)
from decision.engine import actions as act
from decision.engine.compiling import Compiler
from decision.engine.contact import CONTACT

_DELAY = re.compile(r"^\+(\d+)([mhd])$")
_DELAY_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_ID_KINDS = {
    "queue": "queues",
    "script": "scripts",
    "language": "languages",
    "agent_owned": "agents",
}


def _text(compiler: Compiler, where: str, value: Any, limit: int = MAX_TEXT) -> object | None:
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


def _named_id(compiler: Compiler, where: str, key: str, value: Any) -> act.Action | None:
    kind = _ID_KINDS[key]
    if value in ("@contact", "@contact.language"):
        compiler.reads(CONTACT)
    if key == "agent_owned" and value == "@contact":
        return act.SetValue(key, act.ContactList("preferred_agents"), compiler.names, kind)
    if key == "language" and value == "@contact.language":
        return act.SetValue(key, act.ContactField("language"), compiler.names, kind)
    resolved = compiler.genesys_id(where, kind, value)
    return act.SetValue(key, resolved) if resolved else None


def _id_list(compiler: Compiler, where: str, key: str, value: Any) -> act.Action | None:
    kind, reference = ("skills", "@contact.skills") if key == "skills" else ("agents", "@contact")
    values = compiler.strings(where, value)
    if values is None:
        return None
    items: list[object] = []
    for item in values:
        if item == reference:
            compiler.reads(CONTACT)
            items.append(act.ContactList(key))
        else:
            resolved = compiler.genesys_id(where, kind, item)
            if resolved:
                items.append(resolved)
    return act.AddToList(key, tuple(items), compiler.names, kind)


def _free_text(compiler: Compiler, where: str, key: str, value: Any) -> act.Action | None:
    text = _text(compiler, where, value)
    return act.SetValue(key, text) if text is not None else None


def _boolean(compiler: Compiler, where: str, key: str, value: Any) -> act.Action | None:
    if not isinstance(value, bool):
        compiler.problem(where, "expected true or false")
        return None
    return act.SetValue(key, value) if value or key != "normalize_number" else None


def _priority(compiler: Compiler, where: str, key: str, value: Any) -> act.Action | None:
    low, high = PRIORITY_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        compiler.problem(where, f"expected a whole number from {low:,} to {high:,}")
        return None
    return act.SetValue(key, value)


def _caller_id(compiler: Compiler, where: str, key: str, value: Any) -> act.Action | None:
    if not isinstance(value, str) or not is_e164(value):
        compiler.problem(where, 'expected an E.164 number like "+442071234567"')
        return None
    return act.SetValue(key, value)


def _delivery_mode(compiler: Compiler, where: str, key: str, value: Any) -> act.Action | None:
    if value not in DELIVERY_MODES:
        compiler.problem(where, f"expected one of {', '.join(DELIVERY_MODES)}")
        return None
    return act.SetValue(key, value)


def _data(compiler: Compiler, where: str, key: str, value: Any) -> act.Action | None:
    if not isinstance(value, dict):
        compiler.problem(where, "expected a table of strings")
        return None
    items: dict[str, object] = {}
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


def _schedule(compiler: Compiler, where: str, key: str, value: Any) -> act.Action | None:
    if isinstance(value, dict):
        if set(value) - {"next", "timezone"} or "next" not in value:
            compiler.problem(where, 'expected { next = "<window>", timezone = "..." }')
            return None
        zone = (
            compiler.zone(f"{where}.timezone", value["timezone"]) if "timezone" in value else None
        )
        window = compiler.window(f"{where}.next", value["next"])
        return act.SetValue(key, act.NextOpening(window, zone)) if window else None
    if isinstance(value, str) and value.startswith("next "):
        window = compiler.window(where, value.removeprefix("next ").strip())
        return act.SetValue(key, act.NextOpening(window, None)) if window else None
    match = _DELAY.match(value) if isinstance(value, str) else None
    if match is None:
        compiler.problem(where, 'expected "next <window>" or a delay like "+30m", "+2h", "+1d"')
        return None
    delay = timedelta(**{_DELAY_UNITS[match[2]]: int(match[1])})
    return act.SetValue(key, act.Delay(delay))


ACTION_COMPILERS: dict[str, Callable[[Compiler, str, str, Any], act.Action | None]] = {
    "queue": _named_id,
    "script": _named_id,
    "language": _named_id,
    "agent_owned": _named_id,
    "skills": _id_list,
    "preferred_agents": _id_list,
    "priority": _priority,
    "label": _free_text,
    "skill_expression": _free_text,
    "callback_user_name": _free_text,
    "caller_id_name": _free_text,
    "caller_id": _caller_id,
    "validate_callback_numbers": _boolean,
    "normalize_number": _boolean,
    "customer_first_callback_delivery_mode": _delivery_mode,
    "data": _data,
    "schedule": _schedule,
}


def compile_actions(
    compiler: Compiler, where: str, then: Any, skip: tuple[str, ...] = ()
) -> list[act.Action]:
    """A `then` table (or `[defaults]`, less its `skip` settings) as actions, in file order."""
    if not isinstance(then, dict):
        compiler.problem(where, "expected a table of actions")
        return []
    compiled: list[act.Action] = []
    for key, value in then.items():
        if key in skip:
            continue
        compile_one = ACTION_COMPILERS.get(key)
        if compile_one is None:
            known = ", ".join(sorted(ACTION_COMPILERS))
            compiler.problem(f"{where}.{key}", f"unknown action (known: {known})")
            continue
        action = compile_one(compiler, f"{where}.{key}", key, value)
        if action is not None:
            compiled.append(action)
    return compiled
