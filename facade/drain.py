"""How the facade stops without losing a request: the drain the handlers see (readiness off,
`Connection: close` on every answer) and an HTTP server that knows which connections carry a
request, so that a stop closes only the idle ones and waits for the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.web


class Drain:
    """Started when a stop begins; from then on the facade reads as not ready."""

    def __init__(self) -> None:
        self.started = False

    def start(self) -> None:
        self.started = True


class CloseWhileDraining(tornado.web.OutputTransform):
    """Every answer during the drain tells the client to close its connection, so that the
    next request goes to another replica instead of racing this one's exit."""

    def __init__(self, drain: Drain, request: tornado.httputil.HTTPServerRequest) -> None:
        super().__init__(request)
        self.drain = drain

    def transform_first_chunk(
        self, status_code: int, headers: tornado.httputil.HTTPHeaders, chunk: bytes, finishing: bool
    ) -> tuple[int, tornado.httputil.HTTPHeaders, bytes]:
        if self.drain.started:
            headers["Connection"] = "close"
        return status_code, headers, chunk


class _Watched(tornado.httputil.HTTPMessageDelegate):
    """A request's delegate, telling the server when the request's head has arrived and when
    its handler has looked at that head (run its `prepare`)."""

    def __init__(
        self,
        delegate: tornado.httputil.HTTPMessageDelegate,
        arrived: Callable[[], None],
        prepared: Callable[[], None],
    ) -> None:
        self.delegate = delegate
        self.arrived = arrived
        self.prepared = prepared

    def headers_received(
        self,
        start_line: tornado.httputil.RequestStartLine | tornado.httputil.ResponseStartLine,
        headers: tornado.httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self.arrived()
        waiting = self.delegate.headers_received(start_line, headers)
        # A handler that streams its body (every route's here) is started as a task, a loop
        # turn or more later, and Tornado waits for this future, done once its `prepare` has
        # run, before reading the body. Any other handler runs only after its body.
        if isinstance(waiting, asyncio.Future):
            waiting.add_done_callback(lambda _: self.prepared())
        else:
            self.prepared()
        return waiting

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


class DrainingHTTPServer(tornado.httpserver.HTTPServer):
    """An HTTPServer that tells a connection carrying a request (from its head until the next
    request may start, i.e. its answer is written) from an idle one."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self._busy: set[object] = set()
        self._quiet = asyncio.Event()
        self._quiet.set()

    @property
    def requests_in_progress(self) -> int:
        return len(self._busy)

    def start_request(
        self, server_conn: object, request_conn: tornado.httputil.HTTPConnection
    ) -> tornado.httputil.HTTPMessageDelegate:
        self._done(server_conn)  # its previous request, if any, has been answered
        delegate = super().start_request(server_conn, request_conn)
        return _Watched(
            delegate,
            lambda: self.request_arrived(server_conn),
            lambda: self.request_prepared(server_conn),
        )

    def request_arrived(self, server_conn: object) -> None:
        """A request's head has arrived on `server_conn`: it carries a request now."""
        self._busy.add(server_conn)
        self._quiet.clear()

    def request_prepared(self, server_conn: object) -> None:
        """The handler of the request on `server_conn` has looked at its head (the drain has
        nothing to do with it; facade/http_server.py has)."""

    def on_close(self, server_conn: object) -> None:
        self._done(server_conn)
        super().on_close(server_conn)

    def _done(self, server_conn: object) -> None:
        self._busy.discard(server_conn)
        if not self._busy:
            self._quiet.set()

    async def close_idle_connections(self) -> None:
        """Closes every connection that carries no request now (call after `stop`)."""
        for connection in [c for c in self._connections if c not in self._busy]:
            await connection.close()

    async def answered(self, timeout: float) -> bool:
        """Waits until no request is in progress; False if some still are after `timeout`."""
        try:
            await asyncio.wait_for(self._quiet.wait(), timeout)
        except TimeoutError:
            return False
        return True
