"""HTTP handlers of the facade. Thin: authenticate, parse, ask, write."""

from __future__ import annotations

import json
import re
import uuid
from http import HTTPStatus
from typing import Any

import tornado.web

from facade.auth import ApiKeys
from facade.decider import FailOpenDecider
from facade.payload import PayloadError, parse_payload

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class JsonHandler(tornado.web.RequestHandler):
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
        try:
            reason = HTTPStatus(status_code).phrase.lower()
        except ValueError:
            reason = "error"
        self.finish(json.dumps({"error": reason}))


@tornado.web.stream_request_body
class CallbackHandler(JsonHandler):
    """POST /trueengage/callback: the webhook. The body is streamed so an oversize one is
    refused with 413 before it is buffered, and an unauthenticated one before it is read."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, keys: ApiKeys, decider: FailOpenDecider, max_body: int) -> None:
        self.keys = keys
        self.decider = decider
        self.max_body = max_body
        self.body = bytearray()
        self.too_large = False

    def prepare(self) -> None:
        self.request_id = self._request_id()
        self.set_header("X-Request-Id", self.request_id)
        if not self.keys.allows(self.request.headers):
            self.set_header("WWW-Authenticate", 'Bearer realm="callback-router"')
            self.fail(401, "missing or invalid API key")
            return
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            self.fail(415, "Content-Type must be application/json")
            return
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            self.fail(413, f"body larger than {self.max_body} bytes")

    def data_received(self, chunk: bytes) -> None:
        if self._finished or self.too_large:
            return  # already answered; the rest of the body is drained and dropped
        if len(self.body) + len(chunk) > self.max_body:
            self.too_large = True
            self.body.clear()
            return
        self.body += chunk

    def _request_id(self) -> str:
        given = self.request.headers.get("X-Request-Id", "")
        return given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    async def post(self) -> None:
        if self.too_large:
            self.fail(413, f"body larger than {self.max_body} bytes")
            return
        try:
            request = parse_payload(bytes(self.body))
        except PayloadError as error:
            self.fail(400, str(error), error.field)
            return
        request.request_id = self.request_id
        self.write_json(await self.decider.answer(request, self.request_id))


class LiveHandler(JsonHandler):
    """GET /healthz: the process answers."""

    SUPPORTED_METHODS = ("GET",)

    def get(self) -> None:
        self.write_json({"status": "ok"})


class ReadyHandler(JsonHandler):
    """GET /readyz: the decision service is reachable and SERVING."""

    SUPPORTED_METHODS = ("GET",)

    def initialize(self, decider: FailOpenDecider) -> None:
        self.decider = decider

    async def get(self) -> None:
        if await self.decider.client.serving():
            self.write_json({"status": "ready"})
        else:
            self.write_json({"status": "decision service not serving"}, 503)


class NotFoundHandler(JsonHandler):
    def prepare(self) -> None:
        self.fail(404, "not found")
