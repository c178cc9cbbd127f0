"""The decision log: every decision as one JSON line (file or stdout), for audit and replay.

The request path only hands a finished response to a buffer bounded in entries and in bytes; a
writer thread turns it into JSON and writes it. When the buffer is full the entry is dropped and
counted, never waited for: a slow disk must not slow routing. Every entry lost to a full buffer or
a failed write is counted, and reported in one log line per interval; a stalled sink never holds
up exit."""

from __future__ import annotations

import asyncio
import bisect
import errno
import itertools
import json
import logging
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from prometheus_client import Counter, Gauge

from contract.v1 import decision_pb2
from decision.decision_log.entry import MAX_ENTRY_BYTES, log_entry
from decision.engine import OutsideFacts

log = logging.getLogger("decision.log")
LOG_WRITTEN = Counter("decision_log_written_total", "Decision log entries written")
LOG_DROPPED = Counter(
    "decision_log_dropped_total",
    "Decision log entries lost: buffer full, write failed, or still waiting at exit",
)
LOG_BUFFERED_BYTES = Gauge(
    "decision_log_buffered_bytes", "Memory held by decisions waiting to be logged (estimate)"
)
# Measured: a waiting decision holds about 1.3 x its wire size plus 1.7 KiB of memory.
WIRE_SIZE_FACTOR = 2
ENTRY_OVERHEAD = 2048
CHUNK_BYTES = 64 * 1024  # written in one write() call when that many are waiting

Item = tuple[decision_pb2.DecideRequest, decision_pb2.DecideResponse, datetime, OutsideFacts, float]


_DESCRIPTOR_NAME = re.compile(r"/dev/(?:stdout|stderr|fd/\d+)|/proc/self/fd/\d+")


def held_bytes(request: decision_pb2.DecideRequest, response: decision_pb2.DecideResponse) -> int:
    """What a waiting decision holds in memory, estimated generously."""
    return WIRE_SIZE_FACTOR * (request.ByteSize() + response.ByteSize()) + ENTRY_OVERHEAD


class DecisionLog:
    """`target` "-" is stdout; anything else is a file appended to (reopened by `reopen`, for
    log rotation: SIGHUP). As a service component it is open from the start and closed, its
    waiting entries written, at stop."""

    name = "decision log"
    health = None

    async def start(self) -> None:
        """Nothing: the file was opened when the log was made, so a bad path fails at once."""

    def __init__(
        self,
        target: str,
        full_numbers: bool = False,
        capacity: int = 10_000,
        buffer_bytes: int = 32 * 1024 * 1024,
        report_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.full_numbers = full_numbers
        self.capacity = capacity
        self.buffer_bytes = buffer_bytes
        self.report_every = report_every
        self._clock = clock
        self._fd = self._open()
        self._waiting: deque[tuple[Item, int]] = deque()
        self._waiting_bytes = 0
        self._writing = 0  # entries the writer has taken and not yet written
        self._closing = self._reopen_wanted = self._abandoned = False
        self._ready = threading.Condition()
        self._report_lock = threading.Lock()
        self._unreported = 0
        self._reported_at: float | None = None
        self._write_error = ""  # why the last batch lost entries
        LOG_BUFFERED_BYTES.set_function(lambda: self._waiting_bytes)
        self._thread = threading.Thread(target=self._drain, name="decision-log", daemon=True)
        self._thread.start()

    def _open(self) -> int:
        # Raw descriptors, no Python buffer: a writer blocked in write() holds no lock that
        # the interpreter would need at exit.
        if self.target == "-":
            return sys.stdout.fileno()
        # Created for its owner alone: it holds callers' numbers (masked or whole) and their
        # contacts' routing fields. A file that exists keeps its mode: chmod to share it. A
        # symbolic link in its place is refused, never followed (as the SQLite directory's):
        # the service would append into whatever file it points at. The system's names of a
        # descriptor (/dev/stdout, /dev/fd/3) are links too, made by no one else: followed.
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        if not _DESCRIPTOR_NAME.fullmatch(self.target):
            flags |= os.O_NOFOLLOW
        try:
            return os.open(self.target, flags, 0o600)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise OSError(
                    errno.ELOOP, "a symbolic link; give the file's own path ('-' for stdout)"
                ) from None
            raise

    @property
    def waiting_bytes(self) -> int:
        """Estimated memory held by decisions waiting to be written; never above buffer_bytes."""
        return self._waiting_bytes

    def record(
        self,
        request: decision_pb2.DecideRequest,
        response: decision_pb2.DecideResponse,
        at: datetime,
        facts: OutsideFacts,
        latency_ms: float,
    ) -> None:
        """Never blocks: the messages are finished and not touched again by the caller."""
        cost = held_bytes(request, response)
        with self._ready:
            full = (
                len(self._waiting) >= self.capacity
                or self._waiting_bytes + cost > self.buffer_bytes
            )
            if not full:
                self._waiting.append(((request, response, at, facts, latency_ms), cost))
                self._waiting_bytes += cost
                self._ready.notify()
        if full:
            self._lost(1, "buffer full: the log is not written as fast as decisions are made")

    async def stop(self) -> None:
        # Off the loop: a stalled sink may take the whole timeout.
        await asyncio.to_thread(self.close)

    def on_reload_signal(self) -> None:
        self.reopen()

    def reopen(self) -> None:
        """Reopens the file before the next write (after rotation: the old name now points
        elsewhere); for stdout there is nothing to do."""
        with self._ready:
            self._reopen_wanted = True
            self._ready.notify()

    def _lost(self, count: int, cause: str) -> None:
        """Counts every lost entry; logs at most one line per `report_every` seconds."""
        LOG_DROPPED.inc(count)
        with self._report_lock:
            self._unreported += count
            now = self._clock()
            if self._reported_at is not None and now - self._reported_at < self.report_every:
                return
            count, self._unreported, self._reported_at = self._unreported, 0, now
        log.error("decision log lost entries: %d (%s)", count, cause, extra={"file": self.target})

    def _take(self) -> list[Item]:
        """The next entries to write, about CHUNK_BYTES of them; called holding the lock."""
        batch: list[Item] = []
        size = 0
        while self._waiting and size < CHUNK_BYTES:
            item, cost = self._waiting.popleft()
            self._waiting_bytes -= cost
            size += cost
            batch.append(item)
        self._writing = len(batch)
        return batch

    def _reopen(self) -> None:
        if self.target == "-":
            return
        try:
            fresh = self._open()
        except OSError as error:
            log.error("decision log not reopened, writing to the old file: %s", error)
            return
        os.close(self._fd)
        self._fd = fresh
        log.info("decision log reopened", extra={"file": self.target})

    def _drain(self) -> None:
        while True:
            with self._ready:
                while not (self._waiting or self._closing or self._reopen_wanted):
                    self._ready.wait()
                reopen, self._reopen_wanted = self._reopen_wanted, False
                batch = self._take()
                if not batch and not reopen and self._closing:
                    return
            if reopen:  # outside the lock: opening may block, recording must not
                self._reopen()
            written, lost = self._write(batch) if batch else (0, 0)
            with self._ready:
                self._writing = 0
                if self._abandoned:  # close() has already counted this batch as lost
                    return
            LOG_WRITTEN.inc(written)
            if lost:
                self._lost(lost, self._write_error)

    def _write(self, batch: list[Item]) -> tuple[int, int]:
        """Writes the batch; how many entries were written and how many lost."""
        lines = []
        for item in batch:
            try:
                entry = log_entry(*item, full_numbers=self.full_numbers)
                line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
            except Exception as error:  # a bug in turning a decision into JSON
                self._write_error = f"entry not turned into JSON: {error!r}"
                continue
            if len(line) > MAX_ENTRY_BYTES:  # replay would refuse it
                self._write_error = f"entry larger than {MAX_ENTRY_BYTES // 1024} KiB"
                continue
            lines.append(line)
        data = memoryview(b"".join(lines))
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, data[written:])
        except OSError as error:
            self._write_error = f"write failed: {error}"
            ends = list(itertools.accumulate(len(line) for line in lines))
            done = bisect.bisect_right(ends, written)
            return done, len(batch) - done
        return len(lines), len(batch) - len(lines)

    def close(self, timeout: float = 5.0) -> None:
        """Writes what is waiting, giving the sink at most `timeout` seconds; what a stalled
        sink has not taken by then is counted as lost, and exit goes on."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)
        with self._ready:
            stalled = self._thread.is_alive()
            lost = len(self._waiting) + self._writing if stalled else 0
            self._waiting.clear()
            self._waiting_bytes = 0
            self._abandoned = stalled
        if stalled:
            # The writer stays blocked in write(); it is a daemon thread and ends with the process.
            LOG_DROPPED.inc(lost)
            log.error(
                "decision log sink stalled: %d entries not written at exit",
                lost,
                extra={"file": self.target},
            )
        elif self.target != "-":
            os.close(self._fd)
        with self._report_lock:
            unreported, self._unreported = self._unreported, 0
        if unreported:
            log.error("decision log lost entries since its last report: %d", unreported)
