"""The answer check, compiled from the contract in contract/callback.py: every field of an answer
is validated against its own JSON Schema, and one that breaks it is dropped with the reason, so
the rest of the answer still helps.

jsonschema-rs validates a field in well under a microsecond, faster than the hand-written checks
it replaced (`make bench`, "answer check" rows)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import jsonschema_rs

from contract.callback import CALLBACK_PATCH, ROUTING_DATA, Schema

Validator = Any  # jsonschema_rs' validators share no public base class


def _compile(fields: Mapping[str, Schema]) -> dict[str, Validator]:
    # Messages say "value" instead of quoting it: answers carry callers' names and numbers,
    # and the reasons go to the logs. jsonschema-rs takes a dict, not any mapping.
    return {
        name: jsonschema_rs.validator_for(dict(schema), validate_formats=True, mask="value")
        for name, schema in fields.items()
    }


_FIELDS = _compile({name: s for name, s in CALLBACK_PATCH.items() if name != "routingData"})
_ROUTING = _compile(ROUTING_DATA)


def _broken(validator: Validator, value: Any) -> str | None:
    """Why `value` breaks its schema (the first reason found), or None."""
    if validator.is_valid(value):
        return None
    error = next(iter(validator.iter_errors(value)))
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path)
    return f"{where.lstrip('.')}: {error.message}" if where else error.message


def _scheduled_time(value: Any, now: datetime, horizon: timedelta) -> str | None:
    reason = _broken(_FIELDS["callbackScheduledTime"], value)
    if reason:
        return reason
    try:
        at = datetime.fromisoformat(value)
    except ValueError:  # RFC 3339 allows what Python does not parse, e.g. nanoseconds
        return "value is not a date-time Python can read"
    if at <= now:
        return "in the past"
    if at > now + horizon:
        return "beyond the scheduling horizon"
    return None


def enforce(body: dict[str, Any], now: datetime, horizon: timedelta) -> list[tuple[str, str]]:
    """Removes from `body` every field that breaks a rule; returns (field, reason) per drop."""
    dropped: list[tuple[str, str]] = []
    for key in list(body):
        value = body[key]
        if key == "routingData":
            reason = _enforce_routing(value, body.get("queueId"), dropped)
        elif key == "callbackScheduledTime":
            reason = _scheduled_time(value, now, horizon)
        elif key in _FIELDS:
            reason = _broken(_FIELDS[key], value)
        else:
            reason = "not a field TrueEngage takes from us"
        if reason:
            del body[key]
            dropped.append((key, reason))
    return dropped


def _enforce_routing(routing: Any, queue: Any, dropped: list[tuple[str, str]]) -> str | None:
    if not isinstance(routing, dict):
        return "not an object"
    for key in list(routing):
        if key == "queueId":
            continue
        validator = _ROUTING.get(key)
        reason = _broken(validator, routing[key]) if validator else "not a RoutingData field"
        if reason:
            del routing[key]
            dropped.append((f"routingData.{key}", reason))
    # The object is replaced whole, so it is only worth sending with a valid queue of its own.
    if "queueId" not in routing:
        return "routingData.queueId missing"
    reason = _broken(_ROUTING["queueId"], routing["queueId"])
    if reason:
        return f"routingData.queueId: {reason}"
    if queue is not None and routing["queueId"] != queue:
        return "routingData.queueId differs from queueId"
    return None
