"""Reads TrueEngage's webhook body into a DecideRequest by the contract's field rules
(`contract.callback.WEBHOOK`), refusing anything malformed with the name of the field at fault.
The facade reads every webhook with it, and `decision test` / `explain` read their requests with
it too, so a case file cannot hold a request the webhook would refuse."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from contract.callback import (
    CONTROL_CHARACTERS,
    MAX_ATTRIBUTE_KEY,
    MAX_ATTRIBUTE_VALUE,
    MAX_ATTRIBUTES,
    WEBHOOK,
)
from contract.v1.decision_pb2 import DecideRequest

_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
# Half of a surrogate pair, which JSON may carry as an escape ("\\ud83d": JavaScript cutting a
# string through an emoji). No UTF-8 text can hold one, so neither protobuf nor a log could.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _LongInteger:
    """An integer literal too long for `int()` (Python refuses beyond 4,300 digits), kept as
    its text: longer than any field or attribute value takes, so it is only ever refused."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _integer(text: str) -> int | _LongInteger:
    return int(text) if len(text) <= MAX_ATTRIBUTE_VALUE else _LongInteger(text)


class PayloadError(ValueError):
    """A body we refuse with 400; `field` names the culprit when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _known_field(key: str, value: Any) -> str:
    field = WEBHOOK[key]
    number = isinstance(value, int | _LongInteger) and not isinstance(value, bool)
    if number and field.may_be_number:
        value = str(value)
    if not isinstance(value, str):
        kind = "a string or a whole number" if field.may_be_number else "a string"
        raise PayloadError(f"{key} must be {kind}", key)
    if len(value) > field.max_length:
        raise PayloadError(f"{key} is longer than {field.max_length} characters", key)
    if _CONTROL.search(value):
        raise PayloadError(f"{key} contains control characters", key)
    if _LONE_SURROGATE.search(value):
        raise PayloadError(f"{key} contains half of a surrogate pair (not Unicode text)", key)
    return value


def _attribute(key: str, value: Any) -> str | None:
    """Extra fields are tolerated (TrueEngage may add some) and passed on as strings."""
    if value is None or len(key) > MAX_ATTRIBUTE_KEY or not _sendable(key):
        return None
    # json.dumps escapes surrogates in what it writes; a _LongInteger becomes its quoted text,
    # longer than the limit, so it is left out like any other value too long.
    text = (
        value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    )
    if len(text) > MAX_ATTRIBUTE_VALUE or not _sendable(text):
        return None
    return text


def _sendable(text: str) -> bool:
    return not _CONTROL.search(text) and not _LONE_SURROGATE.search(text)


def parse_payload(body: bytes) -> DecideRequest:
    """The webhook body as a DecideRequest; raises PayloadError for a body we cannot accept."""
    return request_from_document(parse_document(body))


def parse_document(body: bytes) -> dict[str, Any]:
    """The webhook body as a JSON object, read as the webhook reads it (the console's "Try a
    caller" too); raises PayloadError naming what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body is not valid UTF-8") from None
    try:
        document = json.loads(text, parse_int=_integer)
    except json.JSONDecodeError as error:
        raise PayloadError(
            f"malformed JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except RecursionError:
        raise PayloadError("JSON is nested too deeply") from None
    if not isinstance(document, dict):
        raise PayloadError("expected a JSON object")
    return document


def request_from_document(document: Mapping[str, Any]) -> DecideRequest:
    """A parsed webhook body (or a case file's request table) as a DecideRequest."""
    request = DecideRequest()
    attributes = request.attributes
    for key, value in document.items():
        if key in WEBHOOK:
            if value is not None:  # null means "not given"
                setattr(request, WEBHOOK[key].request_field, _known_field(key, value))
        elif len(attributes) < MAX_ATTRIBUTES:
            text = _attribute(key, value)
            if text is not None:
                attributes[key] = text
    return request
