"""Builds the facade's OpenAPI document (facade/openapi.json, served at GET /openapi.json) from
the contract in contract/callback.py and the facade's own HTTP answers.

`make openapi` (`python -m facade openapi --output facade/openapi.json`) writes it; a test fails
when the committed file differs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from contract.callback import CALLBACK_PATCH_SCHEMA, WEBHOOK_EXAMPLE, WEBHOOK_SCHEMA
from facade.handlers import _REQUEST_ID

REPO_FILE = Path(__file__).resolve().parent / "openapi.json"
REGENERATE = "make openapi"
# The webhook's refusals, in the order the handler checks them.
REFUSALS = {
    "400": "The body is not UTF-8, not JSON, not an object or nested too deeply, or a known "
    "field has the wrong type, is too long or holds control characters; `field` names it.",
    "401": "Missing or invalid API key.",
    "403": "The client address is not on the allow-list.",
    "413": "The body is larger than the limit.",
    "415": "Content-Type is not application/json.",
    "429": "A wrong key from an address that has spent its budget of failed authentications "
    "(a valid key is never throttled).",
}


def _openapi30(schema: Any) -> Any:
    """The contract's JSON Schema in OpenAPI 3.0's dialect, which has no `propertyNames` (the
    descriptions state those limits in words)."""
    if isinstance(schema, dict):
        return {k: _openapi30(v) for k, v in schema.items() if k != "propertyNames"}
    if isinstance(schema, list):
        return [_openapi30(v) for v in schema]
    return schema


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _get(operation_id: str, summary: str, answers: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "responses": {
                status: {"description": text, "content": content}
                for status, (text, content) in answers.items()
            },
        }
    }


def _webhook() -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "The fields to add or change (`{}`: none).",
            "headers": {
                "X-Request-Id": {"schema": {"type": "string"}},
                "X-Decision-Id": {
                    "schema": {"type": "string"},
                    "description": "absent when the answer was given without a decision",
                },
            },
            "content": _json(_ref("CallbackPatch")),
        }
    }
    for status, text in REFUSALS.items():
        responses[status] = {"description": text, "content": _json(_ref("Error"))}
    responses["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    responses["429"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return {
        "post": {
            "operationId": "answerCallbackWebhook",
            "summary": "Decide how a callback is routed",
            "security": [{"apiKey": []}, {"bearer": []}],
            "parameters": [
                {
                    "name": "X-Request-Id",
                    "in": "header",
                    "required": False,
                    "description": "Echoed back; one that does not match is replaced.",
                    "schema": {"type": "string", "pattern": _REQUEST_ID.pattern},
                }
            ],
            "requestBody": {"required": True, "content": _json(_ref("CallbackWebhook"))},
            "responses": responses,
        }
    }


def build_openapi() -> dict[str, Any]:
    status = _json(_ref("Status"))
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "callback-router facade",
            "version": "1.0.0",
            "description": "Answers TrueEngage's custom callback webhook with the fields of the "
            "Genesys Cloud create-callback body to add or change. `{}` means: create the "
            "callback unchanged. When the decision service is slow or down the answer is `{}` "
            "(fail open). Generated from contract/callback.py.",
        },
        "paths": {
            "/trueengage/callback": _webhook(),
            "/healthz": _get("live", "The process answers", {"200": ("alive", status)}),
            "/readyz": _get(
                "ready",
                "The facade answers the webhook (the readiness probe): 200 whether or not the "
                "decision service is up, since the facade then fails open; 503 once it stops",
                {"200": ("ready", status), "503": ("stopping", status)},
            ),
            "/healthz/decision": _get(
                "decisionHealth",
                "Whether the decision service is SERVING, as the facade last heard (not a "
                "probe: the facade answers `{}` while it is down and must stay in its Service)",
                {"200": ("serving", status), "503": ("not serving", status)},
            ),
            "/metrics": _get(
                "metrics",
                "Prometheus metrics",
                {"200": ("text exposition format", {"text/plain": {"schema": {"type": "string"}}})},
            ),
            "/openapi.json": _get(
                "openapi",
                "This document",
                {"200": ("OpenAPI 3", _json({"type": "object"}))},
            ),
        },
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-API-Key",
                    "description": "the header name is configurable (--api-key-header)",
                },
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "additionalProperties": False,
                    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
                },
                "Status": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "string"}},
                },
                "CallbackWebhook": {**WEBHOOK_SCHEMA, "example": dict(WEBHOOK_EXAMPLE)},
                "CallbackPatch": _openapi30(CALLBACK_PATCH_SCHEMA),
            },
        },
    }


def render_openapi() -> str:
    """The document as it is committed: indented JSON with a final newline."""
    return json.dumps(build_openapi(), indent=2, ensure_ascii=False) + "\n"
