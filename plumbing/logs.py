"""Structured logs for both services: one JSON object per line on stderr."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import queue
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from plumbing.tracing import current_trace_id, logged_trace_id

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Message plus any `extra={...}` fields; exceptions as a single string field."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "service": self.service,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = value
        if (trace_id := logged_trace_id()) is not None:
            entry["trace_id"] = trace_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


_HANDLER_NAME = "callback-router"


def configure_logging(service: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class BackgroundLogWriter(logging.Handler):
    """Formats each record where it is logged (its trace id, its time) and hands the line to a
    thread that writes it: a stderr nobody reads (a stalled log collector, a full pipe) blocks
    that thread, never the event loop. The first warning a facade logged then (a fail-open,
    the decision service gone) used to freeze it: no answer at all, SIGTERM never finished.
    Up to `capacity` lines wait; beyond, lines are dropped and counted (`dropped`)."""

    def __init__(self, stream: Any, formatter: logging.Formatter | None, capacity: int) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.stream = stream
        self.dropped = 0
        self._lines: queue.Queue[str | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._write, name="log-writer", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        try:
            self._lines.put_nowait(line)
        except queue.Full:
            self.dropped += 1

    def _write(self) -> None:
        while (line := self._lines.get()) is not None:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):  # a broken or closed stream: nothing to tell it
                pass

    def finish(self, timeout: float) -> bool:
        """Writes what waits (and a line saying how many were dropped, if any), waiting at most
        `timeout` seconds for the stream; False if it did not take them in time."""
        if self.dropped:
            with contextlib.suppress(queue.Full):
                self._lines.put_nowait(
                    json.dumps(
                        {
                            "level": "warning",
                            "msg": f"{self.dropped} log lines dropped: stderr was not read",
                        }
                    )
                )
        try:
            self._lines.put(None, timeout=timeout)
        except queue.Full:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()


@contextlib.contextmanager
def logs_written_in_background(
    capacity: int = 10_000, exit_timeout: float = 5.0
) -> Iterator[BackgroundLogWriter | None]:
    """While serving, the service's log lines (configure_logging's handler) are written by a
    thread of their own; before and after, as they are logged, so that a start-up error is
    still the last line on stderr. Nothing changes for a process that did not configure the
    service's logging (tests capturing records)."""
    root = logging.getLogger()
    ours = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if not isinstance(ours, logging.StreamHandler):
        yield None
        return
    writer = BackgroundLogWriter(ours.stream, ours.formatter, capacity)
    root.handlers[:] = [writer if h is ours else h for h in root.handlers]
    try:
        yield writer
    finally:
        root.handlers[:] = [ours if h is writer else h for h in root.handlers]
        writer.finish(exit_timeout)


def mask_number(number: str, full: bool = False) -> str:
    """Phone numbers in logs show their last 4 digits unless the operator allows them whole."""
    if full or len(number) <= 4:
        return number
    return "*" * (len(number) - 4) + number[-4:]


# What reads as an email address (the local part anything an address may hold, the domain with
# or without dots; the @ maybe percent-encoded, as in a URL), or as a phone number: 7 digits or
# more, maybe with a leading +, up to 3 punctuation marks or spaces between digit groups
# (`+44 7400/654/321`, `(0)7400-654.321`; not a colon: `09:00-17:30` is a time).
# A match starts only where a run of local-part characters starts (the lookbehind): tried at
# every character of one long run, the pattern backtracked through the rest of it each time,
# quadratic (a 1,024-character value took 11 ms, 32 of them a third of a second per decision).
_EMAIL = re.compile(
    r"(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+(@|%40)([\w-]+(?:\.[\w-]+)*)",
    re.IGNORECASE,
)
_PHONE = re.compile(r"\+?\(?\d(?:(?:[^\w@:]|_){0,3}\d){6,}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")  # an ISO date is not a phone number
# A free-form attribute whose name says it holds a name (`customerName`): withheld whole, as no
# pattern finds "Ada Lovelace" (numbers and emails are found by the patterns above).
_PERSONAL_KEY = re.compile(r"name", re.IGNORECASE)
WITHHELD = "(withheld)"


def mask_personal(text: str) -> str:
    """Free text (a webhook's extra field) with what reads as a phone number masked as
    `mask_number` masks one, and what reads as an email address shown by its domain only."""
    if "@" in text or "%40" in text:
        text = _EMAIL.sub(lambda m: f"***{m[1]}{m[2]}", text)
    return _PHONE.sub(lambda m: m[0] if _DATE.fullmatch(m[0]) else _mask_digits(m[0]), text)


def mask_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """Free-form attributes as a masked log shows them: names and values through
    `mask_personal` (a name can be a number: `"+447400654321": "yes"`), and the value of one
    whose name says it is personal (`customerName`, `email`) withheld."""
    return {
        mask_personal(key): WITHHELD if _PERSONAL_KEY.search(key) else mask_personal(value)
        for key, value in attributes.items()
    }


def _mask_digits(number: str) -> str:
    digits = sum(c.isdigit() for c in number)
    seen = 0
    masked = []
    for c in number:
        if c.isdigit():
            seen += 1
            masked.append(c if seen > digits - 4 else "*")
        else:
            masked.append(c)
    return "".join(masked)


_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))


class AccessLog:
    """One JSON line per request, in the same shape as JsonFormatter's lines, but built for the
    request path: no LogRecord, no handler lock, lines gathered in batches (every
    `flush_interval` seconds or 64 KiB; a line per request through `logging` cost the decision
    service about a fifth of its throughput), and each batch written by a thread of its own, so
    no request waits for a write: a stderr that nobody reads (a stalled log collector, a full
    pipe) once blocked the event loop, and with it every answer. Batches wait for the writer up
    to `max_pending_bytes`; beyond, a batch is dropped and its lines counted (`dropped`).
    `flush()` writes out everything logged so far and waits for it (at exit: nothing logged
    before SIGTERM is lost while the stream takes it)."""

    def __init__(
        self,
        service: str,
        stream: Any = None,
        flush_interval: float = 0.2,
        trace_ids: bool = False,
        max_pending_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        """`trace_ids`: each line carries the current trace's id (when tracing is on)."""
        self.service = service
        self.trace_ids = trace_ids
        self.stream = stream or sys.stderr
        self.flush_interval = flush_interval
        self.max_pending_bytes = max_pending_bytes
        self.dropped = 0  # lines dropped because the stream did not take them in time
        self._lines: list[str] = []
        self._size = 0
        self._second = -1
        self._stamp = ""
        self._timer: Any = None
        # Batches handed to the writer thread, and their size; `_writing`: one is being written.
        self._batches: collections.deque[str] = collections.deque()
        self._pending_bytes = 0
        self._writing = False
        self._changed = threading.Condition()
        self._writer: threading.Thread | None = None

    def _now(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:  # formatting the date once a second is enough
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def write(self, logger: str, msg: str, fields: dict[str, Any]) -> None:
        entry = {
            "ts": self._now(),
            "service": self.service,
            "level": "info",
            "logger": logger,
            "msg": msg,
            **fields,
        }
        if self.trace_ids and (trace_id := current_trace_id()) is not None:
            entry["trace_id"] = trace_id
        line = _ENCODER.encode(entry)
        self._lines.append(line)
        self._size += len(line)
        if self._size > 65536:
            self._hand_over()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop to wait on (a command, a test): written at once
                self.flush()
                return
            self._timer = loop.call_later(self.flush_interval, self._hand_over)

    def _hand_over(self) -> None:
        """The lines gathered so far, as one batch, to the writer thread; never waits."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._lines:
            return
        batch = "\n".join(self._lines) + "\n"
        lines = len(self._lines)
        self._lines.clear()
        self._size = 0
        with self._changed:
            if self._pending_bytes + len(batch) > self.max_pending_bytes:
                self.dropped += lines
                return
            self._batches.append(batch)
            self._pending_bytes += len(batch)
            self._changed.notify_all()
        if self._writer is None:
            self._writer = threading.Thread(
                target=self._write_batches, name=f"{self.service}-access-log", daemon=True
            )
            self._writer.start()

    def _write_batches(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._batches))
                batch = self._batches.popleft()
                self._writing = True
            try:
                self.stream.write(batch)
                self.stream.flush()
            except (OSError, ValueError):  # a closed or broken stream: nothing to tell it
                pass
            finally:
                with self._changed:
                    self._pending_bytes -= len(batch)
                    self._writing = False
                    self._changed.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Writes out every line logged so far and waits, at most `timeout` seconds, until the
        stream has taken them; False if it has not."""
        self._hand_over()
        with self._changed:
            return self._changed.wait_for(lambda: not self._batches and not self._writing, timeout)
