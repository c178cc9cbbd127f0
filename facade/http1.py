"""The HTTP/1.1 connection the facade serves on: Tornado's, with chunk extensions accepted, a
timeout of its own for a connection's first request head (facade/http_server.py), what the
server needs to know of each request (a valid key, the answer handed over, the stream closed),
and nothing served to a client that has gone.

Tornado (6.6) serves the pipelined heads it has already read from a connection even after the
connection has closed, one per loop turn, each answer written to nothing: a burst of pipelined
requests then kept the server's connection slots for minutes after its sender had gone. Here a
closed connection is released at once and what it had sent is dropped. Nor does Tornado time out
a write: an answer the client does not read is dropped with its connection after the body
timeout.

RFC 9112 (7.1.1) lets every chunk-size line carry extensions (`5;ext=1`); Tornado 6.6 reads
the line as a bare hexadecimal number and answers 400. Here each line is checked against the
RFC's grammar, strictly (a bare LF or a control character in an extension is a 400, as
leniency there is how proxies and servers come to disagree on where a body ends), and its
extensions are dropped: none means anything to the facade."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

from tornado import http1connection, httputil, iostream
from tornado.ioloop import IOLoop
from tornado.log import gen_log

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t !\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_EXTENSION = (
    rb"[ \t]*;[ \t]*" + _TOKEN + rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?"
)
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)((?:" + _EXTENSION + rb")*)\r\n")
# Bytes of one chunk-size line, extensions included (Tornado's own limit is 64). A longer one
# closes the connection, as Tornado closes it past any read limit, before the line can be read.
CHUNK_LINE_MAX = 1024
EXTENSIONS_MAX = 16 * 1024  # bytes of extensions in one body, however many chunks carry them
# Bytes a connection's stream may hold beyond the request being answered before the server
# stops reading ahead to notice that its client has gone (`_listen_for_close`).
READ_AHEAD = 16 * 1024


def chunk_size_line(line: bytes) -> bytes:
    """`line` (a chunk-size line with its CRLF) without its extensions, for Tornado to read;
    HTTPInputError when it is not what RFC 9112 allows."""
    match = _CHUNK_LINE.fullmatch(line)
    if match is None:
        raise httputil.HTTPInputError("invalid chunk extension")
    return match[1] + b"\r\n"


class _ChunkLines:
    """The connection's stream as Tornado's chunked-body reader sees it: every line it reads
    (only chunk-size lines are) comes back checked and without its extensions; everything
    else is the stream itself."""

    def __init__(self, stream: iostream.IOStream) -> None:
        self._stream = stream
        self._extension_bytes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def read_until(self, delimiter: bytes, max_bytes: int | None = None) -> Awaitable[bytes]:
        # Tornado types the read as an Awaitable; it is a Future (what _then chains on).
        reading = cast(asyncio.Future, self._stream.read_until(b"\r\n", max_bytes=CHUNK_LINE_MAX))
        return _then(reading, self._size_only)

    def _size_only(self, line: bytes) -> bytes:
        size = chunk_size_line(line)
        self._extension_bytes += len(line) - len(size)
        if self._extension_bytes > EXTENSIONS_MAX:
            raise httputil.HTTPInputError("invalid chunk extension: too many")
        return size


def _then(future: asyncio.Future, convert: Callable[[bytes], bytes]) -> asyncio.Future:
    """A future of `convert(future's result)`, done at once when `future` already is (Tornado
    reads on without waiting for the loop then)."""
    converted: asyncio.Future = asyncio.get_running_loop().create_future()

    def done(source: asyncio.Future) -> None:
        if converted.done():
            return
        if source.cancelled():
            converted.cancel()
            return
        error = source.exception()
        if error is not None:
            converted.set_exception(error)
            return
        try:
            converted.set_result(convert(source.result()))
        except httputil.HTTPInputError as refused:
            converted.set_exception(refused)

    if future.done():
        done(future)
    else:
        future.add_done_callback(done)
    return converted


class RequestWatcher(Protocol):
    """What a FacadeServerConnection tells its server of each request it serves, naming
    itself (`server_conn`): called by the connection itself, at the moments Tornado passes
    through, so that no delegate has to be wrapped around each request's to see them."""

    def request_arrived(self, server_conn: object) -> None:
        """Its head has been read and parsed; the application is about to get it."""

    def request_prepared(self, server_conn: object) -> None:
        """Its handler has looked at the head (run `prepare`); the body is read next."""

    def request_keyed(self, server_conn: object) -> None:
        """Its handler has found a valid key on it."""

    def request_answered(self, server_conn: object) -> None:
        """Its answer has been written (perhaps not yet sent)."""


class FacadeHTTP1Connection(http1connection.HTTP1Connection):
    """One request's connection: Tornado's, reading chunk extensions (see the module), knowing
    when its request arrived (`arrived_at`, set by facade/http_server.py), telling the server
    (`watcher`) when its request has arrived, has been looked at by its handler, has shown a
    valid key (`keyed`) and has been answered (`finish`), and closing the stream when that
    answer is not read in time."""

    arrived_at: float | None = None
    # Set by FacadeServerConnection for each request it serves.
    watcher: RequestWatcher | None = None
    server_conn: object = None
    write_timeout: float | None = None

    _keyed = False

    def keyed(self) -> None:
        self._keyed = True
        if self.watcher is not None:
            self.watcher.request_keyed(self.server_conn)

    def _can_keep_alive(
        self, start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders
    ) -> bool:
        # Tornado (6.6) asks this of a server's request once, as soon as its head has been
        # read and parsed and just before the application gets it: the moment it arrives.
        if self.watcher is not None:
            self.watcher.request_arrived(self.server_conn)
        return super()._can_keep_alive(start_line, headers)

    def _read_body(
        self, code: int, headers: httputil.HTTPHeaders, delegate: httputil.HTTPMessageDelegate
    ) -> Awaitable[None] | None:
        # Called once the application has taken the head: for a handler that streams its body
        # (every route's here) once its `prepare` has run, since Tornado waits for that before
        # reading the body; at once for any other. Called with or without a body.
        if self.watcher is not None:
            self.watcher.request_prepared(self.server_conn)
        return super()._read_body(code, headers, delegate)

    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        if not self.is_client and not self._keyed and self.stream._read_buffer_size:
            # More requests are pipelined behind one without a valid key: this one is answered
            # (`Connection: close`), the others dropped; a client may send them again on a new
            # connection (RFC 9112, 9.3.2). Served in turn, they let a key-less client keep the
            # loop busy answering what it never reads.
            self._disconnect_on_finish = True
        return super().write_headers(start_line, headers, chunk)

    def finish(self) -> None:
        super().finish()
        if self.watcher is not None:
            self.watcher.request_answered(self.server_conn)
        unsent = self._pending_write
        if unsent is not None and not unsent.done() and self.write_timeout:
            # A client that does not read its answer would hold the connection for good.
            stream = self.stream
            timer = stream.io_loop.call_later(self.write_timeout, stream.close)
            unsent.add_done_callback(lambda _: stream.io_loop.remove_timeout(timer))

    async def _read_chunked_body(self, delegate: httputil.HTTPMessageDelegate) -> None:
        stream = self.stream
        self.stream = _ChunkLines(stream)  # type: ignore[assignment]
        try:
            await super()._read_chunked_body(delegate)
        finally:
            self.stream = stream


class FacadeServerConnection(http1connection.HTTP1ServerConnection):
    """Serves one client connection's requests in turn, each on a FacadeHTTP1Connection; the
    first under `first_params` (a shorter wait for its head), the others under `params`; none
    once the stream has closed. `watcher` (the server) hears of each request's progress;
    `on_closed` (the server's) is called as soon as the stream closes."""

    def __init__(
        self,
        stream: iostream.IOStream,
        params: http1connection.HTTP1ConnectionParameters,
        context: object,
        first_params: http1connection.HTTP1ConnectionParameters,
        watcher: RequestWatcher | None = None,
        on_closed: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(stream, params, context)
        self.first_params = first_params
        self.watcher = watcher
        self.on_closed = on_closed
        _tell_when_closed(stream, self._stream_closed)

    def _stream_closed(self) -> None:
        if self.on_closed is not None:
            self.on_closed()

    async def _server_request_loop(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        # Tornado's own loop (6.6), with the facade's connection class and first parameters.
        params = self.first_params
        try:
            while not self.stream.closed():  # what a closed stream had sent is dropped
                conn = FacadeHTTP1Connection(self.stream, False, params, self.context)
                conn.write_timeout = params.body_timeout
                conn.watcher = self.watcher
                conn.server_conn = self
                params = self.params
                request_delegate = delegate.start_request(self, conn)
                try:
                    ret = await conn.read_response(request_delegate)
                except (
                    iostream.StreamClosedError,
                    iostream.UnsatisfiableReadError,
                    asyncio.CancelledError,
                ):
                    return
                except Exception:
                    gen_log.error("Uncaught exception", exc_info=True)
                    conn.close()
                    return
                if not ret:
                    return
                await asyncio.sleep(0)
        finally:
            delegate.on_close(self)


def _tell_when_closed(stream: iostream.IOStream, closed: Callable[[], None]) -> None:
    """Calls `closed` when `stream` closes, whatever else waits for it. An IOStream has one
    close callback, which each request's connection takes (while it waits for its answer) and
    clears in turn; `closed` stays in front of whichever they set."""
    set_callback = stream.set_close_callback

    def set_close_callback(callback: Callable[[], None] | None) -> None:
        def both() -> None:
            closed()
            if callback is not None:
                callback()

        set_callback(both)
        if callback is not None:  # a request waits for its answer
            _listen_for_close(stream)

    stream.set_close_callback = set_close_callback  # type: ignore[method-assign]
    set_close_callback(None)


def _listen_for_close(stream: iostream.IOStream) -> None:
    """Lets the loop tell when the client resets or closes the connection while its request is
    answered, though the stream holds what it pipelined. Tornado listens for that only when its
    buffer is empty (on asyncio's loop a socket is watched for errors only while it is read), so
    that a client gone after pipelining was noticed only at the first failed write. Reading
    then takes at most one more chunk, and only below READ_AHEAD bytes already read ahead."""
    buffered = stream._read_buffer_size
    state = stream._state
    if stream.closed() or not 0 < buffered < READ_AHEAD:
        return
    if state is None or not state & IOLoop.READ:
        stream._add_io_state(IOLoop.READ)
