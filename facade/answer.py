"""Turns a decision's CallbackPatch into the webhook answer body."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.protobuf.json_format import MessageToDict

from contract.callback import PROTECTED_DATA_KEYS
from contract.v1.decision_pb2 import CallbackPatch
from facade.answer_check import enforce


def answer_body(
    patch: CallbackPatch, now: datetime, horizon: timedelta
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The patch's proto3 JSON form, which is the Genesys field layout, minus TrueEngage's own
    data keys (whatever the decision service says) and minus any field that breaks a Genesys
    rule. Returns the body and the (field, reason) pairs dropped."""
    body = MessageToDict(patch)
    data = body.get("data")
    if data:
        for key in PROTECTED_DATA_KEYS.intersection(data):
            del data[key]
        if not data:
            del body["data"]
    return body, enforce(body, now, horizon)
