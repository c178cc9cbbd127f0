"""The operator console: a small web page and its JSON API on a separate admin listener (never
the webhook port), behind admin keys of its own. Everything it shows comes from the decision
service over gRPC, so every facade in front of the same replicas shows the same thing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import grpc
import tornado.web
from google.protobuf.json_format import MessageToDict
from tornado.httputil import HTTPHeaders

from contract.client import DecisionClient
from contract.v1 import decision_pb2
from contract.webhook import PayloadError, parse_document, request_from_document
from facade.answer import answer_body
from facade.auth import ApiKeys
from facade.bodies import NoBody
from facade.handlers import JsonHandler, NotFoundHandler, error_body, tell_keyed
from facade.rate_limit import RateLimiter
from facade.request_logs import PathOnlyLogs

CONSOLE_FILES = resources.files("facade").joinpath("console")
ADMIN_TIMEOUT = 2.0  # seconds: a person is waiting, not TrueEngage


def _as_json(message: Any, zeros: bool = False) -> dict[str, Any]:
    """Proto3 JSON, the webhook's field names; `zeros`: counts of 0 are shown, not omitted."""
    return MessageToDict(message, always_print_fields_with_no_presence=zeros)


def _moment(text: object) -> datetime | None:
    """An ISO 8601 moment (no offset: UTC), else None; whether a decision can be made at it
    is the decision service's to say (INVALID_ARGUMENT, a 400 here)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
        at = at.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return at


class AdminApiHandler(NoBody, JsonHandler):
    """Every API call needs an admin key (`Authorization: Bearer ...`), checked at the head,
    before any body is read; webhook keys are not admin keys, and wrong keys spend a
    per-address budget (429 past it). The decision service's errors come back as 502 with its
    status, never a traceback."""

    def initialize(
        self, keys: ApiKeys, limiter: RateLimiter, client: DecisionClient, horizon: timedelta
    ) -> None:
        self.keys = keys
        self.limiter = limiter
        self.client = client
        self.horizon = horizon

    def prepare(self) -> None:
        if self.keys.allows(self.request.headers):
            tell_keyed(self.request)
            self.refuse_body()
            return
        # As on the webhook, wrong keys spend the address's budget, so guessing one is slow.
        wait = self.limiter.retry_after(self.request.remote_ip or "")
        if wait:
            self.set_header("Retry-After", str(wait))
            self.fail(429, "too many failed sign-ins")
            return
        self.set_header("WWW-Authenticate", 'Bearer realm="callback-router console"')
        # Answered at the head: a body, if any, is never read (the connection then closes).
        self.fail(401, "missing or invalid admin key")

    def decision_service_failed(self, error: grpc.aio.AioRpcError) -> None:
        # The service's refusal of what the operator typed is the operator's to fix (400).
        status = 400 if error.code() == grpc.StatusCode.INVALID_ARGUMENT else 502
        self.fail(status, f"decision service: {error.code().name.lower()}: {error.details()}")


class SessionHandler(AdminApiHandler):
    """GET /api/session: 200 when the key is an admin key (the login form's check)."""

    SUPPORTED_METHODS = ("GET",)

    def get(self) -> None:
        self.write_json({"status": "ok"})


class TryHandler(AdminApiHandler):
    """POST /api/try: a webhook body plus an optional `at` (ISO 8601): the explained decision
    and the exact answer TrueEngage would get. The body, once the key has been checked, is
    kept up to the webhook's limit (413 beyond)."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(  # type: ignore[override]  # Tornado passes each route's own kwargs
        self,
        keys: ApiKeys,
        limiter: RateLimiter,
        client: DecisionClient,
        horizon: timedelta,
        max_body: int,
    ) -> None:
        super().initialize(keys, limiter, client, horizon)
        self.max_body = max_body
        self.BODY_LIMIT = max_body
        self.body = bytearray()
        self.too_large = False

    def data_received(self, chunk: bytes) -> None:
        if self.too_large:
            return
        if len(self.body) + len(chunk) > self.max_body:  # sent chunked: no length declared
            self.too_large = True
            self.body.clear()
        else:
            self.body += chunk

    async def post(self) -> None:
        if self.too_large:  # as the webhook would refuse it
            self.fail(413, f"body larger than {self.max_body} bytes")
            return
        try:
            document = parse_document(bytes(self.body) or b"{}")
            at = document.pop("at", None)
            request = request_from_document(document)
        except PayloadError as error:
            self.fail(400, str(error), error.field)
            return
        moment = _moment(at)
        # Only a missing or empty `at` means now; anything else must be a moment.
        if at not in (None, "") and moment is None:
            self.fail(400, "at: not an ISO 8601 moment such as 2026-11-24T18:00:00Z", "at")
            return
        if moment is not None:
            request.at.FromDatetime(moment)
        try:
            explained = await self.client.explain(request, timeout=ADMIN_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            self.decision_service_failed(error)
            return
        if not isinstance(explained, decision_pb2.ExplainResponse):  # a broken peer
            self.fail(502, "decision service: not an ExplainResponse")
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
            after = -1
        if not 0 <= after < 2**63:
            self.fail(400, "after must be a whole number from 0", "after")
            return
        rule = self.get_query_argument("rule", "")
        try:
            recent = await self.client.list_decisions(rule, after, timeout=ADMIN_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            self.decision_service_failed(error)
            return
        self.write_json(_as_json(recent))


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)
# On every answer of the console's listener, errors included: no other origin's scripts, no
# framing, no form sent elsewhere, no <base> rewriting the page's links, no content sniffing,
# and no URL of the console handed to another site.
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ConsoleSecurityHeaders(tornado.web.OutputTransform):
    """Adds SECURITY_HEADERS to every answer, whichever handler (or error) wrote it."""

    def transform_first_chunk(
        self, status_code: int, headers: HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, HTTPHeaders, bytes]:
        for name, value in SECURITY_HEADERS.items():
            headers[name] = value
        return status_code, headers, chunk


class ConsoleFileHandler(NoBody, PathOnlyLogs, tornado.web.StaticFileHandler):
    """The page's CSS and JavaScript; errors as JSON, like every other console answer."""

    def parse_url_path(self, url_path: str) -> str:
        # A NUL makes the file system calls raise ValueError, which Tornado answers 500 with
        # a traceback; no file has one in its name.
        if "\x00" in url_path:
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(error_body(status_code))


class ConsolePageHandler(NoBody, JsonHandler):
    """GET /: the page itself (no data in it: it asks the API with the key the operator types).
    POST /: what a form sends when Enter is pressed before the page's script has run; the key
    it carries is dropped, and the browser is sent back to the page (303, so that a reload
    does not post it again)."""

    SUPPORTED_METHODS = ("GET", "POST")
    BODY_LIMIT = 4096  # the sign-in form's fields, dropped unread

    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(CONSOLE_FILES.joinpath("index.html").read_bytes())

    def post(self) -> None:
        self.redirect("/", status=303)


def make_admin_app(
    keys: ApiKeys,
    limiter: RateLimiter,
    client: DecisionClient,
    horizon: timedelta,
    max_body: int,
    log_request: Callable[[tornado.web.RequestHandler], None] | None = None,
) -> tornado.web.Application:
    """The console's routes around its collaborators; `limiter` counts failed sign-ins,
    `max_body` is the webhook's limit, `log_request` writes the access line (paths only)."""
    api = {"keys": keys, "limiter": limiter, "client": client, "horizon": horizon}
    return tornado.web.Application(
        [
            ("/", ConsolePageHandler),
            ("/api/session", SessionHandler, api),
            ("/api/try", TryHandler, {**api, "max_body": max_body}),
            ("/api/rules", RulesHandler, api),
            ("/api/decisions", DecisionsHandler, api),
        ],
        static_path=str(CONSOLE_FILES),
        static_url_prefix="/static/",
        static_handler_class=ConsoleFileHandler,
        default_handler_class=NotFoundHandler,
        transforms=[ConsoleSecurityHeaders],
        log_function=log_request or (lambda handler: None),
    )
