"""How the facade stops without losing a request: the drain the handlers see (readiness off,
`Connection: close` on every answer) and an HTTP server that knows which connections carry a
request, so that a stop closes only the idle ones and waits for the others.

The server learns it from its connections (facade/http1.py's FacadeServerConnection), which
tell it when a request's head has arrived and when its handler has looked at that head: no
delegate is wrapped around each request's (the wrapper and its callbacks cost 1.3 us a request,
measured alone; issue 21)."""

from __future__ import annotations

import asyncio
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


class DrainingHTTPServer(tornado.httpserver.HTTPServer):
    """An HTTPServer that tells a connection carrying a request (from its head until the next
    request may start, i.e. its answer is written) from an idle one. Its connections must say
    when a request arrives (`request_arrived`): serve them with FacadeServerConnection."""

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
        return super().start_request(server_conn, request_conn)

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
