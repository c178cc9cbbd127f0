"""How many calls of each kind the decision service carries at once, apart from Decide's: the
standard health service's Watch streams, reflection streams and the console's calls. Every kind
but Decide has a small budget of its own, so that no number of them can take the call slots a
Decide needs (10,000 Watch streams once made every Decide RESOURCE_EXHAUSTED).

A console call holds its place until gRPC has finished the call, not until its handler returns:
a reply the client never reads (it grants no flow-control window) stays in memory until then,
so counting handlers let stalled replies pile up without bound (300 stalled GetRules took
2.3 GB)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
from collections.abc import Iterator

# Watch streams open at once: each facade holds one per decision replica, probes use Check.
WATCH_STREAMS = 100
# Reflection streams open at once (grpcurl, grpc_cli: a person's tools).
REFLECTION_STREAMS = 8
# The console's calls (Explain, GetRules, ListDecisions) in progress at once, how many more
# may wait for a place, and for how long: a person clicking twice is served in turn, a flood is
# refused with RESOURCE_EXHAUSTED; a webhook never waits behind either.
CONSOLE_CALLS = 1
CONSOLE_WAITING = 4
CONSOLE_WAIT_SECONDS = 2.0
# What console work on a worker thread lets the loop that answers Decide have: Python hands the
# interpreter lock over every 5 ms by default, so a Decide waited up to that for each turn.
CONSOLE_SWITCH_INTERVAL = 0.0005


class StreamBudget:
    """At most `limit` calls of one kind in progress; `take` says whether there is room."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0

    def take(self) -> bool:
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def release(self) -> None:
        self.taken -= 1


class WaitingBudget:
    """At most `limit` calls in progress; up to `waiting` more wait, first come first served,
    at most `wait_seconds` each, for a place; beyond either, `take` is False at once. A place
    freed while someone waits passes straight to them (nobody overtakes the queue)."""

    def __init__(self, limit: int, waiting: int, wait_seconds: float) -> None:
        self.limit = limit
        self.waiting = waiting
        self.wait_seconds = wait_seconds
        self.taken = 0
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def queued(self) -> int:
        return sum(not turn.done() for turn in self._queue)

    async def take(self) -> bool:
        if self.taken < self.limit and not self.queued:
            self.taken += 1
            return True
        if self.queued >= self.waiting:
            return False
        turn = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            async with asyncio.timeout(self.wait_seconds):
                await turn
        except TimeoutError:
            self._give_up(turn)
            return False
        except BaseException:  # the caller went away
            self._give_up(turn)
            raise
        return True

    def _give_up(self, turn: asyncio.Future[None]) -> None:
        if turn.done() and not turn.cancelled():  # a place was handed over meanwhile
            self.release()
        else:
            turn.cancel()
        with contextlib.suppress(ValueError):
            self._queue.remove(turn)

    def release(self) -> None:
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():
                turn.set_result(None)  # the place passes on: `taken` is unchanged
                return
        self.taken -= 1


class _SwitchInterval:
    """The interpreter's thread switch interval, lowered while any holder needs it."""

    def __init__(self) -> None:
        self.holders = 0
        self.before = sys.getswitchinterval()

    @contextlib.contextmanager
    def lowered(self, interval: float) -> Iterator[None]:
        if self.holders == 0:
            self.before = sys.getswitchinterval()
        self.holders += 1
        sys.setswitchinterval(min(self.before, interval))
        try:
            yield
        finally:
            self.holders -= 1
            if self.holders == 0:
                sys.setswitchinterval(self.before)


SWITCH_INTERVAL = _SwitchInterval()
