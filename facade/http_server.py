"""The facade's HTTP server, for the webhook and the console alike: the drain (facade/drain.py)
and its connections served by facade/http1.py."""

from __future__ import annotations

from tornado import iostream
from tornado.httpserver import _HTTPRequestContext

from facade.drain import DrainingHTTPServer
from facade.http1 import FacadeServerConnection


class FacadeHTTPServer(DrainingHTTPServer):
    def handle_stream(self, stream: iostream.IOStream, address: tuple) -> None:
        # Tornado's (6.6), with the facade's connection class.
        context = _HTTPRequestContext(stream, address, self.protocol, self.trusted_downstream)
        connection = FacadeServerConnection(stream, self.conn_params, context)
        self._connections.add(connection)
        connection.start_serving(self)
