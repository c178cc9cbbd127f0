"""Turns a decision's CallbackPatch into the webhook answer body."""

from __future__ import annotations

from typing import Any

from google.protobuf.json_format import MessageToDict

from decision.engine import PROTECTED_DATA_KEYS
from decision.v1.decision_pb2 import CallbackPatch


def answer_body(patch: CallbackPatch) -> dict[str, Any]:
    """The patch's proto3 JSON form, which is the Genesys field layout, minus TrueEngage's own
    data keys: whatever the decision service says, those are never ours to set."""
    body = MessageToDict(patch)
    data = body.get("data")
    if data:
        for key in PROTECTED_DATA_KEYS.intersection(data):
            del data[key]
        if not data:
            del body["data"]
    return body
