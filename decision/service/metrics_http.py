"""Prometheus metrics over HTTP on --metrics-listen, served by Tornado on the service's own event
loop, bounded: at most METRICS_CONNECTIONS connections (one more takes the place of one that
carries no request, or is closed when all do), HEAD_SECONDS
for a connection to send its whole request head (however slowly) and as long idle between
requests, no request body. prometheus_client's own server ran a thread per connection with no
timeout, so 1,000 connections that sent nothing held a thread and a descriptor each for good:
the service ran out of descriptors and no facade could connect."""

from __future__ import annotations

import logging
from typing import Any

import tornado.httpserver
import tornado.httputil
import tornado.iostream
import tornado.netutil
import tornado.web
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder

log = logging.getLogger("decision.metrics")

# Scrapers (one or two Prometheus servers, a person with curl): far within the descriptor
# headroom the gRPC connection cap leaves (grpc_server.DESCRIPTOR_HEADROOM).
METRICS_CONNECTIONS = 16
HEAD_SECONDS = 10.0


class MetricsHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        encoder, content_type = choose_encoder(self.request.headers.get("Accept", ""))
        self.set_header("Content-Type", content_type)
        self.finish(encoder(REGISTRY))


class _Heard(tornado.httputil.HTTPMessageDelegate):
    """A request's delegate that tells the server when the request's head has arrived."""

    def __init__(self, delegate: tornado.httputil.HTTPMessageDelegate, heard: Any) -> None:
        self.delegate = delegate
        self.heard = heard

    def headers_received(self, start_line: Any, headers: Any) -> Any:
        self.heard()
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()


class CappedHTTPServer(tornado.httpserver.HTTPServer):
    """At most `max_connections` open: at the cap, a new connection takes the place of the
    oldest one that carries no request (silent since it connected, or idle between requests);
    when every one carries a request, the new one is closed at once. Refusing the new one
    whatever the others did let 16 connections that sent nothing lock Prometheus out."""

    max_connections = METRICS_CONNECTIONS
    refused = 0
    evicted = 0

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self._idle: dict[Any, None] = {}  # connections carrying no request, oldest first

    def handle_stream(self, stream: tornado.iostream.IOStream, address: Any) -> None:
        if len(self._connections) >= self.max_connections:
            victim = next(iter(self._idle), None)
            if victim is None:
                self.refused += 1
                stream.close()
                return
            del self._idle[victim]
            self.evicted += 1
            victim.stream.close()
        super().handle_stream(stream, address)

    def start_request(self, server_conn: Any, request_conn: Any) -> Any:
        self._idle[server_conn] = None  # waiting for its (next) head
        delegate = super().start_request(server_conn, request_conn)
        return _Heard(delegate, lambda: self._idle.pop(server_conn, None))

    def on_close(self, server_conn: Any) -> None:
        self._idle.pop(server_conn, None)
        super().on_close(server_conn)


def metrics_server(
    max_connections: int = METRICS_CONNECTIONS, head_seconds: float = HEAD_SECONDS
) -> CappedHTTPServer:
    """The server, not yet listening (`add_sockets` with `tornado.netutil.bind_sockets`)."""
    application = tornado.web.Application(
        [(r"/metrics", MetricsHandler), (r"/", MetricsHandler)],
        log_function=lambda handler: None,  # scrapes are not worth a line each
    )
    server = CappedHTTPServer(
        application,
        idle_connection_timeout=head_seconds,  # Tornado's header timeout too
        body_timeout=head_seconds,
        max_body_size=0,
        max_header_size=16 * 1024,
        xheaders=False,
    )
    server.max_connections = max_connections
    return server


class MetricsEndpoint:
    """The service component that serves metrics on `listen` (host:port)."""

    name = "metrics endpoint"
    health = None

    def __init__(self, listen: str) -> None:
        self.listen = listen
        self.server: CappedHTTPServer | None = None
        self.port = 0

    async def start(self) -> None:
        host, _, port = self.listen.rpartition(":")
        try:
            sockets = tornado.netutil.bind_sockets(int(port), address=host or None)
        except (ValueError, OSError) as error:
            raise SystemExit(f"decision: cannot serve metrics on {self.listen}: {error}") from None
        self.port = sockets[0].getsockname()[1]
        self.server = metrics_server()
        self.server.add_sockets(sockets)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()
            self.server = None

    def on_reload_signal(self) -> None:
        pass
