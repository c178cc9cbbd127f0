"""HTTP handlers of the facade. Thin: check, parse, ask, write."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from http import HTTPStatus
from importlib import resources
from typing import Any

import tornado.httputil
import tornado.web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from contract.webhook import PayloadError, parse_payload
from facade import metrics
from facade.auth import ApiKeys
from facade.bodies import NoBody
from facade.decider import FailOpenDecider, Outcome
from facade.drain import Drain
from facade.network import ClientPolicy
from facade.rate_limit import RateLimiter
from facade.request_logs import PathOnlyLogs
from plumbing.ids import new_id
from plumbing.tracing import Tracing

log = logging.getLogger("facade.handlers")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
OPENAPI = resources.files("facade").joinpath("openapi.json").read_bytes()
CALLBACK_SPAN = "/trueengage/callback"


class JsonHandler(PathOnlyLogs):
    """Every answer, errors included, is JSON."""

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    def write_json(self, body: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(body, separators=(",", ":")))

    def fail(self, status: int, message: str, field: str | None = None) -> None:
        body: dict[str, Any] = {"error": message}
        if field is not None:
            body["field"] = field
        self.write_json(body, status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Tornado's own refusals (405, 500): a JSON reason, never a traceback.
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.SUPPORTED_METHODS))
        self.finish(error_body(status_code))


def tell_keyed(request: tornado.httputil.HTTPServerRequest) -> None:
    """Tells the server that `request` carries a valid key: its connection is not closed for
    room until it is answered (facade/http_server.py)."""
    keyed = getattr(request.connection, "keyed", None)
    if keyed is not None:
        keyed()


def error_body(status_code: int) -> bytes:
    """The JSON answer to an error Tornado raised: its reason phrase, nothing of the request."""
    try:
        reason = HTTPStatus(status_code).phrase.lower()
    except ValueError:
        reason = "error"
    return json.dumps({"error": reason}, separators=(",", ":")).encode()


@tornado.web.stream_request_body
class CallbackHandler(JsonHandler):
    """POST /trueengage/callback: the webhook. Refusals are decided before the body is read, in
    the order that costs a flood the least: address, key (failures spend a per-address budget),
    content type, declared size. The body is streamed, so one larger than the limit is never
    buffered. A refused body is read and dropped before the answer, so the connection stays
    usable (HTTP/1.1 keep-alive); one declared larger than the limit, or whose sender waits for
    `100 Continue`, is answered at once with `Connection: close`, since Tornado then closes
    rather than read it."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(
        self,
        keys: ApiKeys,
        policy: ClientPolicy,
        limiter: RateLimiter,
        decider: FailOpenDecider,
        max_body: int,
        tracing: Tracing | None = None,
    ) -> None:
        self.keys = keys
        self.tracing = tracing or Tracing.off()
        self.policy = policy
        self.limiter = limiter
        self.decider = decider
        self.max_body = max_body
        self.body = bytearray()
        self.received = 0
        self.too_large = False
        self.refusal: tuple[int, str] | None = None
        self.outcome: Outcome | None = None
        self.phone = ""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Tornado refuses a wrong method (405) before the streamed body is read, and then drops
        # the connection: say so, so that the client does not send its next request on it.
        self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    def refuse(self, status: int, reason: str, message: str) -> None:
        """Counts a refusal; it is answered once the body is drained (`answer_refusal`).
        Meanwhile the server may close the connection if it needs the room, as it may any
        connection whose request has not shown a valid key (facade/http_server.py)."""
        metrics.REFUSALS.labels(reason).inc()
        self.refusal = (status, message)

    def answer_refusal(self, closing: bool = False) -> None:
        assert self.refusal is not None
        if closing:  # answered before the body is read: Tornado closes, but would not say so
            self.set_header("Connection", "close")
        self.fail(*self.refusal)

    def declared_too_large(self) -> bool:
        length = self.request.headers.get("Content-Length", "")
        return length.isdigit() and int(length) > self.max_body

    def prepare(self) -> None:
        given = self.request.headers.get("X-Request-Id", "")
        self.request_id = given if _REQUEST_ID.match(given) else new_id()
        self.set_header("X-Request-Id", self.request_id)
        self.caller = self.policy.client_address(
            self.request.remote_ip or "", self.request.headers.get("X-Forwarded-For")
        )
        self.check_before_body()
        # A client waiting for "100 Continue" is better told at once than asked for the body.
        waits_to_send = self.request.headers.get("Expect", "").lower() == "100-continue"
        if self.refusal is not None and (waits_to_send or self.declared_too_large()):
            self.answer_refusal(closing=True)

    def check_before_body(self) -> None:
        if not self.policy.allowed(self.caller):
            self.refuse(403, "address_not_allowed", "client address not allowed")
            return
        if not self.keys.allows(self.request.headers):
            # Only failed authentication spends the address's budget: a caller holding a valid
            # key is never throttled (capacity is the in-flight cap's job, which fails open).
            wait = self.limiter.retry_after(self.caller)
            if wait:
                self.set_header("Retry-After", str(wait))
                self.refuse(429, "rate_limited", "too many failed authentications")
                return
            self.set_header("WWW-Authenticate", 'Bearer realm="callback-router"')
            self.refuse(401, "unauthenticated", "missing or invalid API key")
            return
        tell_keyed(self.request)
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            self.refuse(415, "content_type", "Content-Type must be application/json")
            return
        if self.declared_too_large():
            self.refuse(413, "body_too_large", f"body larger than {self.max_body} bytes")

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self._finished or self.too_large or self.refusal is not None:
            # Drained and dropped. A refused body is read to its end, not cut off: closing while
            # the client is still sending makes its kernel reset the connection, and the
            # refusal is lost with it. The server's read cap (`max_body_size`) bounds the cost.
            return
        if self.received > self.max_body:
            self.too_large = True
            self.body.clear()
        else:
            self.body += chunk

    async def post(self) -> None:
        if not self.tracing.enabled:
            await self.answer_webhook()
            return
        # Continues TrueEngage's trace when it sent a `traceparent`; the answer (and its access
        # line, which carries the trace id) is written inside the span.
        with self.tracing.server_span(f"POST {CALLBACK_SPAN}", self.request.headers):
            await self.answer_webhook()

    async def answer_webhook(self) -> None:
        if self.too_large:
            self.refuse(413, "body_too_large", f"body larger than {self.max_body} bytes")
        if self.refusal is not None:
            self.answer_refusal()
            return
        try:
            request = parse_payload(bytes(self.body))
        except PayloadError as error:
            metrics.REFUSALS.labels("invalid_payload").inc()
            self.fail(400, str(error), error.field)
            return
        request.request_id = self.request_id
        self.phone = request.phone_number
        try:
            arrived = getattr(self.request.connection, "arrived_at", None)
            self.outcome = await self.decider.answer(request, self.request_id, arrived)
        except Exception:  # the last net under "never a 5xx": a bug costs routing, not a callback
            log.exception("fail-open: unexpected error", extra={"request_id": self.request_id})
            metrics.FAIL_OPEN.labels("facade_error").inc()
            self.outcome = Outcome({}, fail_open="facade_error")
        if self.outcome.decision_id:
            self.set_header("X-Decision-Id", self.outcome.decision_id)
        self.write_json(self.outcome.body)

    def on_finish(self) -> None:
        metrics.requests_answered(self.get_status()).inc()
        metrics.ANSWER_SECONDS.observe(self.request.request_time())


class LiveHandler(NoBody, JsonHandler):
    """GET /healthz: the process answers."""

    SUPPORTED_METHODS = ("GET",)

    def get(self) -> None:
        self.write_json({"status": "ok"})


class ReadyHandler(NoBody, JsonHandler):
    """GET /readyz: this facade can answer the webhook, which it can whenever it runs (it fails
    open), so 200 until it starts stopping, then 503 (the load balancer sends no new traffic to a
    stopping replica). Never tied to the decision service: if it were, a decision outage would
    take every facade out of its Service, and TrueEngage would get connection errors or the
    ingress' 502 instead of `{}`."""

    SUPPORTED_METHODS = ("GET",)

    def initialize(self, drain: Drain) -> None:
        self.drain = drain

    def get(self) -> None:
        if self.drain.started:
            self.write_json({"status": "stopping"}, 503)
        else:
            self.write_json({"status": "ready"})


class DecisionHealthHandler(NoBody, JsonHandler):
    """GET /healthz/decision: whether the decision service is serving, as the facade's health
    watch last heard (no RPC per request). For people and dashboards, never for a probe: the
    facade answers (`{}`) while the decision service is down, and must stay in its Service."""

    SUPPORTED_METHODS = ("GET",)

    def initialize(self, decision_serving: Callable[[], bool]) -> None:
        self.decision_serving = decision_serving

    def get(self) -> None:
        if self.decision_serving():
            self.write_json({"status": "serving"})
        else:
            self.write_json({"status": "decision service not serving"}, 503)


class MetricsHandler(NoBody, PathOnlyLogs):
    """GET /metrics in Prometheus' text format (all worker processes when there are several)."""

    SUPPORTED_METHODS = ("GET",)

    def initialize(self, registry: Any = REGISTRY) -> None:
        self.registry = registry

    def get(self) -> None:
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.registry))


class OpenApiHandler(NoBody, JsonHandler):
    """GET /openapi.json: the facade's contract."""

    SUPPORTED_METHODS = ("GET",)

    def get(self) -> None:
        self.finish(OPENAPI)


class NotFoundHandler(NoBody, JsonHandler):
    """Any other path, on either listener: 404 at the head, its body (if any) never read."""

    def prepare(self) -> None:
        self.fail(404, "not found")
