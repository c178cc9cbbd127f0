"""The hand-written answer check that facade/answer_check.py replaced, kept verbatim as the
yardstick `make bench` measures the check compiled from the contract against. Not used by the
facade."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from contract.callback import (
    DELIVERY_MODES,
    E164,
    GENESYS_ID,
    MAX_DATA_KEY,
    MAX_DATA_VALUE,
    MAX_SCORED_AGENTS,
    MAX_TEXT,
    PRIORITY_RANGE,
    ROUTING_FLAGS,
)

_COUNTRY_CODE = re.compile(r"^\+[1-9]\d{0,2}$")
Check = Callable[[Any], str | None]


def _id(value: Any) -> str | None:
    return None if isinstance(value, str) and GENESYS_ID.match(value) else "not a Genesys id"


def _ids(value: Any) -> str | None:
    if not isinstance(value, list) or not all(_id(v) is None for v in value):
        return "not a list of Genesys ids"
    return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
        return f"not a string of 1 to {MAX_TEXT} characters"
    return None


def _e164(value: Any) -> str | None:
    return None if isinstance(value, str) and E164.match(value) else "not an E.164 number"


def _numbers(value: Any) -> str | None:
    if not isinstance(value, list) or not value or any(_e164(v) for v in value):
        return "not a non-empty list of E.164 numbers"
    return None


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "not a boolean"


def _country_code(value: Any) -> str | None:
    return None if isinstance(value, str) and _COUNTRY_CODE.match(value) else "not like +44"


def _delivery_mode(value: Any) -> str | None:
    return None if value in DELIVERY_MODES else f"not one of {', '.join(DELIVERY_MODES)}"


def _data(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "not an object"
    for key, text in value.items():
        if (
            not 0 < len(key) <= MAX_DATA_KEY
            or not isinstance(text, str)
            or len(text) > MAX_DATA_VALUE
        ):
            return (
                f"key {key[:MAX_DATA_KEY]!r}: not a string of at most {MAX_DATA_VALUE} characters"
            )
    return None


def _priority(value: Any) -> str | None:
    low, high = PRIORITY_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"not a whole number from {low} to {high}"
    return None


def _scored_agents(value: Any) -> str | None:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_SCORED_AGENTS:
        return f"not a list of 1 to {MAX_SCORED_AGENTS} agents"
    for entry in value:
        agent = entry.get("agent") if isinstance(entry, dict) else None
        score = entry.get("score") if isinstance(entry, dict) else None
        if not isinstance(agent, dict) or _id(agent.get("id")):
            return "an agent without a Genesys id"
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
            return "a score outside 0..100"
    return None


def _flags(value: Any) -> str | None:
    if not isinstance(value, list) or not set(value) <= ROUTING_FLAGS:
        return f"not a list of {', '.join(sorted(ROUTING_FLAGS))}"
    return None


ROUTING_CHECKS: dict[str, Check] = {
    "queueId": _id,
    "languageId": _id,
    "label": _text,
    "priority": _priority,
    "skillIds": _ids,
    "skillExpression": _text,
    "preferredAgentIds": _ids,
    "scoredAgents": _scored_agents,
    "routingFlags": _flags,
}
TOP_LEVEL_CHECKS: dict[str, Check] = {
    "scriptId": _id,
    "queueId": _id,
    "callbackUserName": _text,
    "callbackNumbers": _numbers,
    "countryCode": _country_code,
    "validateCallbackNumbers": _boolean,
    "data": _data,
    "callerId": _e164,
    "callerIdName": _text,
    "customerFirstCallbackDeliveryMode": _delivery_mode,
}


def _scheduled_time(value: Any, now: datetime, horizon: timedelta) -> str | None:
    if not isinstance(value, str) or not value.endswith("Z"):
        return "not an ISO-8601 UTC time"
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return "not an ISO-8601 UTC time"
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
        elif key in TOP_LEVEL_CHECKS:
            reason = TOP_LEVEL_CHECKS[key](value)
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
        check = ROUTING_CHECKS.get(key)
        reason = check(routing[key]) if check else "not a RoutingData field"
        if reason and key != "queueId":
            del routing[key]
            dropped.append((f"routingData.{key}", reason))
    # The object is replaced whole, so it is only worth sending with a valid queue of its own.
    if _id(routing.get("queueId")):
        return "routingData.queueId missing or not a Genesys id"
    if queue is not None and routing["queueId"] != queue:
        return "routingData.queueId differs from queueId"
    return None
