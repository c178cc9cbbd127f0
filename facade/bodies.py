"""What a route may be sent. The webhook streams its body under its own limit (facade/handlers.py);
every other route takes none, or a small one it drops: a Tornado handler that does not stream
buffers a body whole (up to the server's read cap, 1 MiB) before the handler, and any refusal,
runs, so 800 key-less bodies to `/nope` took 800 MB. Here a request that declares more body than
its route takes is answered at its head (413, or the route's own refusal) with `Connection:
close`, and its body is never read."""

from __future__ import annotations

import json
from typing import Any

import tornado.web


def declared_body(request: tornado.httputil.HTTPServerRequest) -> int | None:
    """The body length a request's head declares: 0 for none, None for one sent chunked (of
    no length it says)."""
    if "Transfer-Encoding" in request.headers:
        return None
    length = request.headers.get("Content-Length", "0")
    return int(length) if length.isdigit() else None


@tornado.web.stream_request_body
class NoBody(tornado.web.RequestHandler):
    """A route that takes no body (BODY_LIMIT 0), or at most BODY_LIMIT bytes, read and dropped
    as they come. Put it first among a handler's bases; a handler whose `prepare` refuses a
    request itself (a wrong key) may answer before calling `refuse_body`, as it is
    `Connection: close` whenever a body the handler has not read remains."""

    BODY_LIMIT = 0

    def body_too_large(self) -> bool:
        declared = declared_body(self.request)
        if declared is None:  # chunked: within a limit it is read (and dropped) as it comes
            return self.BODY_LIMIT == 0
        return declared > self.BODY_LIMIT

    def prepare(self) -> Any:
        self.refuse_body()

    def refuse_body(self) -> None:
        """Answers 413 at once when the request declares more body than the route takes."""
        if not self._finished and self.body_too_large():
            self.set_status(413)
            self.set_header("Content-Type", "application/json")
            refusal = (
                f"body larger than {self.BODY_LIMIT} bytes"
                if self.BODY_LIMIT
                else "this path takes no request body"
            )
            self.finish(json.dumps({"error": refusal}))

    def data_received(self, chunk: bytes) -> None:
        pass  # within BODY_LIMIT, and nothing here reads it

    def finish(self, chunk: Any = None) -> Any:
        # An answer given before the body has been read: Tornado then closes the connection
        # rather than read the body, and the client must be told so.
        if not self.request._body_future.done() and declared_body(self.request) != 0:
            self.set_header("Connection", "close")
        return super().finish(chunk)
