"""The operator console: a small web page and its JSON API on a separate admin listener (never
the webhook port), behind admin keys of its own. Everything it shows comes from the decision
service over gRPC, so every facade in front of the same replicas shows the same thing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import grpc
import tornado.web
from google.protobuf.json_format import MessageToDict

from decision.client import DecisionClient
from decision.webhook import PayloadError, parse_payload
from facade.answer import answer_body
from facade.auth import ApiKeys
from facade.handlers import JsonHandler

CONSOLE_FILES = resources.files("facade").joinpath("console")
ADMIN_TIMEOUT = 2.0  # seconds: a person is waiting, not TrueEngage


def _as_json(message: Any, zeros: bool = False) -> dict[str, Any]:
    """Proto3 JSON, the webhook's field names; `zeros`: counts of 0 are shown, not omitted."""
    return MessageToDict(message, always_print_fields_with_no_presence=zeros)


class AdminApiHandler(JsonHandler):
    """Every API call needs an admin key (`Authorization: Bearer ...`); webhook keys are not
    admin keys. The decision service's errors come back as 502 with its status, never a
    traceback."""

    def initialize(self, keys: ApiKeys, client: DecisionClient, horizon: timedelta) -> None:
        self.keys = keys
        self.client = client
        self.horizon = horizon

    def prepare(self) -> None:
        if not self.keys.allows(self.request.headers):
            self.set_header("WWW-Authenticate", 'Bearer realm="callback-router console"')
            self.fail(401, "missing or invalid admin key")

    def decision_service_failed(self, error: grpc.aio.AioRpcError) -> None:
        self.fail(502, f"decision service: {error.code().name.lower()}: {error.details()}")


class SessionHandler(AdminApiHandler):
    """GET /api/session: 200 when the key is an admin key (the login form's check)."""

    SUPPORTED_METHODS = ("GET",)

    def get(self) -> None:
        self.write_json({"status": "ok"})


class TryHandler(AdminApiHandler):
    """POST /api/try: a webhook body plus an optional `at` (ISO 8601): the explained decision
    and the exact answer TrueEngage would get."""

    SUPPORTED_METHODS = ("POST",)

    async def post(self) -> None:
        try:
            document = json.loads(self.request.body or b"{}")
            at = document.pop("at", None) if isinstance(document, dict) else None
            request = parse_payload(json.dumps(document).encode())
            moment = datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None
        except (ValueError, AttributeError, PayloadError) as error:
            field = getattr(error, "field", None)
            self.fail(400, str(error) if isinstance(error, PayloadError) else "bad request", field)
            return
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            request.at.FromDatetime(moment.astimezone(UTC))
        try:
            explained = await self.client.explain(request, timeout=ADMIN_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            self.decision_service_failed(error)
            return
        # What TrueEngage would get: the webhook's own answer shaping, at the moment tried.
        body, dropped = answer_body(
            explained.decision.patch, moment or datetime.now(UTC), self.horizon
        )
        result = _as_json(explained)
        result["answer"] = {
            "body": body,
            "dropped": [{"field": f, "reason": r} for f, r in dropped],
        }
        self.write_json(result)


class RulesHandler(AdminApiHandler):
    """GET /api/rules: the live rules, when they went live, the last refused reload, counts."""

    SUPPORTED_METHODS = ("GET",)

    async def get(self) -> None:
        try:
            rules = await self.client.get_rules(timeout=ADMIN_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            self.decision_service_failed(error)
            return
        self.write_json(_as_json(rules, zeros=True))


class DecisionsHandler(AdminApiHandler):
    """GET /api/decisions?rule=&after=: recent decisions, newest first, as the decision service
    keeps them (numbers masked, so they are shown as decided rather than re-checked)."""

    SUPPORTED_METHODS = ("GET",)

    async def get(self) -> None:
        try:
            after = int(self.get_query_argument("after", "0") or 0)
        except ValueError:
            self.fail(400, "after must be a whole number", "after")
            return
        rule = self.get_query_argument("rule", "")
        try:
            recent = await self.client.list_decisions(rule, after, timeout=ADMIN_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            self.decision_service_failed(error)
            return
        self.write_json(_as_json(recent))


class ConsolePageHandler(tornado.web.RequestHandler):
    """GET /: the page itself (no data in it: it asks the API with the key the operator types)."""

    SUPPORTED_METHODS = ("GET",)

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'",
        )
        self.finish(CONSOLE_FILES.joinpath("index.html").read_bytes())


def make_admin_app(
    keys: ApiKeys, client: DecisionClient, horizon: timedelta
) -> tornado.web.Application:
    """The console's routes around its collaborators."""
    api = {"keys": keys, "client": client, "horizon": horizon}
    return tornado.web.Application(
        [
            ("/", ConsolePageHandler),
            ("/api/session", SessionHandler, api),
            ("/api/try", TryHandler, api),
            ("/api/rules", RulesHandler, api),
            ("/api/decisions", DecisionsHandler, api),
        ],
        static_path=str(CONSOLE_FILES),
        static_url_prefix="/static/",
    )
