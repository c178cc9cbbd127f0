"""What the decision service does when its contact directory fails: the caller is "unknown" for
that decision (the routing goes on), and the failure is counted, logged at most once per interval
and shown as "degraded" in the metrics and the gRPC health of the directory."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from decision.service.metrics import DIRECTORY_FAILURES as FAILURES
from decision.service.metrics import DIRECTORY_UP as UP

log = logging.getLogger("decision.directory")


class DirectoryHealth:
    """Fed by every lookup's outcome. `on_change(ok)` hears each switch between working and
    degraded (the server turns it into a health status)."""

    def __init__(
        self,
        log_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[bool], None] = lambda ok: None,
    ) -> None:
        self.ok = True
        self.on_change = on_change
        self._log_interval = log_interval
        self._clock = clock
        self._next_log = 0.0
        self._unlogged = 0
        UP.set(1)

    def succeeded(self) -> None:
        if not self.ok:
            self.ok = True
            UP.set(1)
            log.info("contact directory answers again")
            self.on_change(True)

    def failed(self, error: BaseException) -> str:
        """Counts and maybe logs the failure; returns the decision's note."""
        reason = "timeout" if isinstance(error, TimeoutError) else "error"
        FAILURES.labels(reason).inc()
        self._unlogged += 1
        now = self._clock()
        if now >= self._next_log:
            log.warning(
                "contact directory failing: callers treated as unknown",
                extra={
                    "reason": reason,
                    "error": f"{type(error).__name__}: {error}"[:200],
                    "failures_since_last_line": self._unlogged,
                },
            )
            self._unlogged = 0
            self._next_log = now + self._log_interval
        if self.ok:
            self.ok = False
            UP.set(0)
            self.on_change(False)
        return f"contact directory {reason}: caller treated as unknown"
