"""The Genesys callback contract, stated once: the webhook fields TrueEngage sends us and the
create-callback fields, types and limits our answers must keep to (shared/docs field reference).

The rules loader, the facade's payload parser and answer check, and the published OpenAPI
(`python -m facade openapi`) all read this module. Answer fields are stated as JSON Schema
(2020-12; the published OpenAPI 3.0 states `propertyNames` in words); the two rules JSON Schema
cannot say are stated below them and enforced by the answer check."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

Schema = Mapping[str, Any]  # a JSON Schema

# -- The webhook request: what TrueEngage sends ---------------------------------------------


@dataclass(frozen=True)
class WebhookField:
    """A field of TrueEngage's webhook body and the DecideRequest field it fills."""

    request_field: str
    max_length: int
    # A sender could plausibly type it as a JSON number ("widgetId": 123); ids never are.
    may_be_number: bool
    description: str


# Genesys ids are 36 characters; the limits leave room for whatever TrueEngage puts there.
WEBHOOK: Mapping[str, WebhookField] = MappingProxyType(
    {
        "phoneNumber": WebhookField("phone_number", 32, True, "The number the visitor typed."),
        "countryCode": WebhookField("country_code", 8, True, "Calling code the widget chose."),
        "scriptId": WebhookField("script_id", 64, False, "Genesys script id."),
        "queueId": WebhookField("queue_id", 64, False, "Genesys queue id."),
        "scheduleGroupId": WebhookField("schedule_group_id", 64, False, "Schedule group id."),
        "widgetId": WebhookField("widget_id", 64, True, "TrueEngage widget id."),
    }
)
# Extra fields pass on as attributes (non-strings as compact JSON) within these bounds; one
# beyond them is left out, never refused.
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 1024
# Webhook strings never hold control characters (a log or a CRM screen would show them); the
# class body reads the same to Python's re and to JSON Schema.
CONTROL_CHARACTERS = r"\u0000-\u001f\u007f"


def _webhook_field(field: WebhookField) -> Schema:
    # In OpenAPI 3.0's dialect (`nullable`), as published: its integers are draft 4's, 123 but
    # never 123.0, which is what the facade takes.
    text = {
        "type": "string",
        "maxLength": field.max_length,
        "pattern": f"^[^{CONTROL_CHARACTERS}]*$",
    }
    if not field.may_be_number:
        return {**text, "nullable": True, "description": field.description}
    # A number is taken as its decimal text, so the text's limit bounds it.
    number = {
        "type": "integer",
        "minimum": -(10 ** (field.max_length - 1) - 1),
        "maximum": 10**field.max_length - 1,
    }
    return {"oneOf": [text, number], "nullable": True, "description": field.description}


WEBHOOK_SCHEMA: Schema = {
    "type": "object",
    "additionalProperties": True,
    "properties": {name: _webhook_field(field) for name, field in WEBHOOK.items()},
    "description": "What TrueEngage sends; `null` means not given. Other fields are tolerated and "
    f"passed to the rules as attributes (at most {MAX_ATTRIBUTES}; names of at most "
    f"{MAX_ATTRIBUTE_KEY} characters; non-strings as compact JSON of at most "
    f"{MAX_ATTRIBUTE_VALUE} characters; any other is left out).",
}
# TrueEngage's documented example body, with a UK mobile number: the published OpenAPI's example,
# part of the package so that `python -m facade openapi` works where it is installed.
# examples/webhook.json is the same body for tests, bench and docs (a test keeps the two equal).
WEBHOOK_EXAMPLE: Mapping[str, str] = MappingProxyType(
    {
        "phoneNumber": "07400123456",
        "scriptId": "xxx",
        "queueId": "xxx",
        "scheduleGroupId": "xxx",
        "widgetId": "123",
        "countryCode": "+44",
    }
)


# -- The answer: the create-callback fields we may send -------------------------------------

GENESYS_ID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
E164_PATTERN = r"^\+[1-9]\d{1,14}$"
COUNTRY_CODE_PATTERN = r"^\+[1-9]\d{0,2}$"
GENESYS_ID = re.compile(GENESYS_ID_PATTERN)
E164 = re.compile(E164_PATTERN)
PRIORITY_RANGE = (-25_000_000, 25_000_000)
# TrueEngage's own keys in `data`: never ours to set.
PROTECTED_DATA_KEYS = frozenset({"visitorId", "te_channel"})
MAX_DATA_KEY = 128
MAX_DATA_VALUE = 1024
MAX_TEXT = 256
MAX_SCORED_AGENTS = 20
ROUTING_FLAGS = frozenset({"AGENT_OWNED_CALLBACK"})
DELIVERY_MODES = ("UseQueueSetting", "UseAgentReservation", "NoAgentReservation")


def _genesys_id(description: str) -> Schema:
    return {"type": "string", "pattern": GENESYS_ID_PATTERN, "description": description}


def _genesys_ids(description: str) -> Schema:
    return {"type": "array", "items": _genesys_id("Genesys id."), "description": description}


def _text(description: str) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "description": description}


def _e164(description: str) -> Schema:
    return {"type": "string", "pattern": E164_PATTERN, "description": description}


@dataclass(frozen=True)
class AnswerField:
    """One field of the create-callback body an answer may carry, stated once: where it sits
    (Genesys' JSON name; `routingData.<name>` inside RoutingData), its JSON Schema, and the rules'
    `then` key that sets it with the kind of value that key takes (`value`, compiled by
    decision/engine/action_compilers.py; for Genesys ids, `names` is the [names.*] table that
    names them). A field set only together with another (routingData.queueId with `queue`,
    countryCode with `normalize_number`) has no key of its own. The CallbackPatch field that
    carries it has the same JSON name (a test holds the two to each other)."""

    path: str
    schema: Schema
    then: str = ""
    value: str = ""
    names: str = ""

    @property
    def routing(self) -> bool:
        return self.path.startswith("routingData.")

    @property
    def name(self) -> str:
        """The JSON name within its object."""
        return self.path.removeprefix("routingData.")


_SCORED_AGENTS: Schema = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_SCORED_AGENTS,
    "items": {
        "type": "object",
        "required": ["agent", "score"],
        "additionalProperties": False,
        "properties": {
            "agent": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": _genesys_id("Genesys user id.")},
            },
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
        },
    },
    "description": "Agents with a score; an agent-owned callback has one, scored 100.",
}
_DATA: Schema = {
    "type": "object",
    "propertyNames": {"minLength": 1, "maxLength": MAX_DATA_KEY},
    "additionalProperties": {"type": "string", "maxLength": MAX_DATA_VALUE},
    "not": {"anyOf": [{"required": [key]} for key in sorted(PROTECTED_DATA_KEYS)]},
    "description": f"Participant attributes, keys of 1 to {MAX_DATA_KEY} characters. "
    f"Never {' or '.join(sorted(PROTECTED_DATA_KEYS))} (TrueEngage's own).",
}

# Every answer field, in the order answers and the OpenAPI document list them.
ANSWER_FIELDS: tuple[AnswerField, ...] = (
    AnswerField("scriptId", _genesys_id("Script shown to the agent."), "script", "id", "scripts"),
    AnswerField("queueId", _genesys_id("Queue for the callback."), "queue", "queue", "queues"),
    AnswerField(
        "routingData.queueId",
        _genesys_id("Routing queue; always present, and equal to queueId if sent."),
    ),
    AnswerField(
        "routingData.languageId",
        _genesys_id("Language to consider in routing."),
        "language",
        "id",
        "languages",
    ),
    AnswerField(
        "routingData.label", _text("Label; max utilization can be set per label."), "label", "text"
    ),
    AnswerField(
        "routingData.priority",
        {
            "type": "integer",
            "minimum": PRIORITY_RANGE[0],
            "maximum": PRIORITY_RANGE[1],
            "description": "Routing priority (Architect's scale).",
        },
        "priority",
        "integer",
    ),
    AnswerField(
        "routingData.skillIds",
        _genesys_ids("Skills to consider in routing."),
        "skills",
        "ids",
        "skills",
    ),
    AnswerField(
        "routingData.skillExpression",
        _text("Logical expression over skills."),
        "skill_expression",
        "text",
    ),
    AnswerField(
        "routingData.preferredAgentIds",
        _genesys_ids("Agents to prefer (members of the queue)."),
        "preferred_agents",
        "ids",
        "agents",
    ),
    AnswerField("routingData.scoredAgents", _SCORED_AGENTS, "agent_owned", "agent_owned", "agents"),
    AnswerField(
        "routingData.routingFlags",
        {
            "type": "array",
            "items": {"type": "string", "enum": sorted(ROUTING_FLAGS)},
            "description": "E.g. AGENT_OWNED_CALLBACK.",
        },
    ),
    AnswerField(
        "callbackUserName", _text("Name of the party to call back."), "callback_user_name", "text"
    ),
    AnswerField(
        "callbackNumbers",
        {
            "type": "array",
            "minItems": 1,
            "items": _e164("E.164 number."),
            "description": "Numbers to call back.",
        },
        "normalize_number",
        "normalize_number",
    ),
    AnswerField(
        "callbackScheduledTime",
        {
            "type": "string",
            "format": "date-time",
            "pattern": "Z$",
            "description": "When to call back: ISO-8601 in UTC, in the future, within the "
            "scheduling horizon.",
        },
        "schedule",
        "schedule",
    ),
    AnswerField(
        "countryCode",
        {
            "type": "string",
            "pattern": COUNTRY_CODE_PATTERN,
            "description": "Calling code of the callback numbers, e.g. +44.",
        },
    ),
    AnswerField(
        "validateCallbackNumbers",
        {"type": "boolean", "description": "Let Genesys validate the numbers' format."},
        "validate_callback_numbers",
        "boolean",
    ),
    AnswerField("data", _DATA, "data", "map"),
    AnswerField("callerId", _e164("Number shown to the called party."), "caller_id", "e164"),
    AnswerField("callerIdName", _text("Name shown to the called party."), "caller_id_name", "text"),
    AnswerField(
        "customerFirstCallbackDeliveryMode",
        {
            "type": "string",
            "enum": list(DELIVERY_MODES),
            "description": "Only sent when a rule asks for it.",
        },
        "customer_first_callback_delivery_mode",
        "enum",
    ),
)

ROUTING_DATA: Mapping[str, Schema] = MappingProxyType(
    {f.name: f.schema for f in ANSWER_FIELDS if f.routing}
)


def _callback_patch() -> dict[str, Schema]:
    fields: dict[str, Schema] = {}
    for field in ANSWER_FIELDS:
        if not field.routing:
            fields[field.path] = field.schema
        elif "routingData" not in fields:
            fields["routingData"] = {
                "type": "object",
                "required": ["queueId"],
                "additionalProperties": False,
                "properties": dict(ROUTING_DATA),
                "description": "Genesys' RoutingData, always whole (it carries its queueId).",
            }
    return fields


CALLBACK_PATCH: Mapping[str, Schema] = MappingProxyType(_callback_patch())
CALLBACK_PATCH_SCHEMA: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": dict(CALLBACK_PATCH),
    "description": "Fields of Genesys Cloud's CreateCallbackCommand to add or change.",
}
# What JSON Schema cannot say, enforced by the answer check all the same:
# - routingData.queueId equals queueId when both are sent (TrueEngage may replace routingData
#   whole, so it must be right on its own);
# - callbackScheduledTime is after now and at most the scheduling horizon ahead.


def is_genesys_id(value: str) -> bool:
    # fullmatch: Python's `$` also matches before a final newline, JSON Schema's does not.
    return bool(GENESYS_ID.fullmatch(value))


def is_e164(value: str) -> bool:
    return bool(E164.fullmatch(value))
