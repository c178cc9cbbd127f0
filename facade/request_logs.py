"""What the facade's HTTP layer logs about a request, without the request's values: a key
header Tornado refuses as malformed is logged as "Invalid header value", never with the key;
a handler's log lines name the method and path, never the query string (an admin key typed
into a form whose script had not run yet travels there)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from types import TracebackType
from urllib.parse import urlsplit

import tornado.web

# The fixed part of each HTTPInputError Tornado (6.6) raises; what follows it quotes the
# request. A message that starts with none of these is logged as MALFORMED.
_PROBLEMS = (
    "Invalid header name",
    "Invalid header value",
    "header line cannot start with whitespace",
    "no colon in header line",
    "Missing Host header",
    "Invalid Host header",
    "Multiple host headers not allowed",
    "Invalid query string",
    "Malformed HTTP request line",
    "Unexpected HTTP version",
    "Multiple unequal Content-Lengths",
    "Only integer Content-Length is allowed",
    "Content-Length too long",
    "Message with both Transfer-Encoding and Content-Length",
    "Unsupported Transfer-Encoding",
    "invalid chunk size",
    "invalid chunk extension",
    "improperly terminated chunk",
    "chunked body too large",
    "Body too long",
    "invalid gzip data",
    "decompressed body too large",
)
MALFORMED = "malformed request"
_MALFORMED_MESSAGE = "Malformed HTTP message from %s: %s"

log = logging.getLogger("facade.http")


def problem_only(message: str) -> str:
    """What was wrong with a request, without the value Tornado quotes: `Invalid header value`
    for "Invalid header value 'key\\r'"."""
    return next((problem for problem in _PROBLEMS if message.startswith(problem)), MALFORMED)


_TLS_ERROR_MESSAGE = "SSL Error on %s %s: %s"
TLS_ERRORS_EVERY_SECONDS = 60.0


class WithholdValues(logging.Filter):
    """On Tornado's `tornado.general` logger: its line for a malformed request keeps the peer
    and the kind of problem, and drops the rest (the header value, the request line). Failed
    TLS handshakes (a line each: anyone who reaches the port could flood the log, 300
    handshakes, 300 lines) are logged once a minute at most, saying how many were not."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.clock = clock
        self._next_tls_line = 0.0
        self._tls_unlogged = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == _MALFORMED_MESSAGE and isinstance(record.args, tuple):
            peer, error = (*record.args, "")[:2]
            record.args = (peer, problem_only(str(error)))
        elif record.msg == _TLS_ERROR_MESSAGE:
            now = self.clock()
            if now < self._next_tls_line:
                self._tls_unlogged += 1
                return False
            self._next_tls_line = now + TLS_ERRORS_EVERY_SECONDS
            if self._tls_unlogged:
                record.msg += f" ({self._tls_unlogged} more since the last such line)"
                self._tls_unlogged = 0
        return True


def withhold_values_in_tornado_logs() -> None:
    """Installs the filter once per process (every facade built in it shares the logger)."""
    general = logging.getLogger("tornado.general")
    if not any(isinstance(f, WithholdValues) for f in general.filters):
        general.addFilter(WithholdValues())


def path_only(target: str) -> str:
    """The path of a request's target, without its query (Tornado's `request.path` already
    has none): an absolute-form target (`http://user:secret@host/path`, which a client may
    send) is logged as its path alone, never with its credentials or host."""
    if target.startswith("/"):
        return target
    try:
        parts = urlsplit(target)
    except ValueError:
        return "-"
    if parts.scheme and parts.netloc:
        return parts.path or "/"
    return target if target == "*" else "-"  # OPTIONS *; anything else names no path


class PathOnlyLogs(tornado.web.RequestHandler):
    """A handler whose own log lines (refusals Tornado raises, uncaught errors) say method,
    path and client, never the query string, the request's headers or a refusal's detail."""

    def _request_summary(self) -> str:
        return f"{self.request.method} {path_only(self.request.path)} ({self.request.remote_ip})"

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(value, tornado.web.HTTPError):
            # Logged when Tornado would log it (it has a message), but the message may quote
            # the request ("Invalid body: Unsupported Content-Encoding: <the header>"): the
            # status says enough.
            if value.log_message:
                try:
                    reason = HTTPStatus(value.status_code).phrase
                except ValueError:
                    reason = "error"
                log.warning("%d %s: %s", value.status_code, self._request_summary(), reason)
            return
        log.error("uncaught error %s", self._request_summary(), exc_info=value if value else True)
