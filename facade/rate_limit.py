"""Per-address token buckets for failed authentications: `rate` per second, bursts up to
`burst`; each call of `retry_after` spends a token (the handler calls it only for a wrong key).
An IPv6 client counts as its /64, as for the connection caps: one host usually holds a whole
/64, and a budget per address would give it a fresh burst from each."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from facade.connection_limits import client_key


class RateLimiter:
    """Memory is bounded: the least recently seen clients are forgotten beyond `max_clients`
    (a forgotten client starts again with a full bucket, which errs on the side of serving).
    `clock` gives monotonic seconds; tests pass their own."""

    def __init__(
        self,
        rate: float,
        burst: int,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1)
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def retry_after(self, client: str) -> int:
        """0 when the request may go ahead (and spends a token); else whole seconds to wait."""
        if self.rate <= 0:
            return 0
        client = client_key(client)
        now = self.clock()
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return 0 if allowed else max(1, math.ceil((1 - tokens) / self.rate))
