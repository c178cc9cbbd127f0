"""The HTTP/1.1 connection the facade serves on: Tornado's, with chunk extensions accepted and
a timeout of its own for a connection's first request head (facade/http_server.py).

RFC 9112 (7.1.1) lets every chunk-size line carry extensions (`5;ext=1`); Tornado 6.6 reads
the line as a bare hexadecimal number and answers 400. Here each line is checked against the
RFC's grammar, strictly (a bare LF or a control character in an extension is a 400, as
leniency there is how proxies and servers come to disagree on where a body ends), and its
extensions are dropped: none means anything to the facade."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

from tornado import http1connection, httputil, iostream
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


class FacadeHTTP1Connection(http1connection.HTTP1Connection):
    """One request's connection: Tornado's, reading chunk extensions (see the module), and
    knowing when its request arrived (`arrived_at`, set by facade/http_server.py) and telling
    the server when it has been refused (`refused`)."""

    arrived_at: float | None = None
    # Set by the server: the handler calls it once it has refused the request (401, 413, ...),
    # whose body it then reads only to keep the connection usable.
    on_refused: Callable[[], None] | None = None

    def refused(self) -> None:
        if self.on_refused is not None:
            self.on_refused()

    async def _read_chunked_body(self, delegate: httputil.HTTPMessageDelegate) -> None:
        stream = self.stream
        self.stream = _ChunkLines(stream)  # type: ignore[assignment]
        try:
            await super()._read_chunked_body(delegate)
        finally:
            self.stream = stream


class FacadeServerConnection(http1connection.HTTP1ServerConnection):
    """Serves one client connection's requests in turn, each on a FacadeHTTP1Connection; the
    first under `first_params` (a shorter wait for its head), the others under `params`."""

    def __init__(
        self,
        stream: iostream.IOStream,
        params: http1connection.HTTP1ConnectionParameters,
        context: object,
        first_params: http1connection.HTTP1ConnectionParameters,
    ) -> None:
        super().__init__(stream, params, context)
        self.first_params = first_params

    async def _server_request_loop(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        # Tornado's own loop (6.6), with the facade's connection class and first parameters.
        params = self.first_params
        try:
            while True:
                conn = FacadeHTTP1Connection(self.stream, False, params, self.context)
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
