"""The contact directory as the decision service uses it: a background component (opened at
start, closed at exit) that provides each decision's `CONTACT` fact. A directory that fails or
passes its deadline means "unknown" for that decision (the routing goes on): the failure is
counted, logged at most once per interval, and shown as degraded in the directory's own gRPC
health (`callback-router.contacts`) and in `decision_directory_up`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge

from contract.v1 import decision_pb2
from decision.directory import ContactDirectory, backend_name, open_directory
from decision.engine import CONTACT, CallbackFields, Contact, number_facts
from plumbing.lifecycle import Health

log = logging.getLogger("decision.directory")
HEALTH_NAME = "callback-router.contacts"
DIRECTORY_FAILURES = Counter(
    "decision_directory_failures_total",
    "Contact lookups that failed or passed their deadline (the caller was treated as unknown)",
    ["reason"],
)
# Labelled by backend (sqlite, postgresql): without a directory there is no sample at all, and
# decision_directory_info says "none".
DIRECTORY_UP = Gauge(
    "decision_directory_up",
    "1 while contact lookups succeed, 0 while the directory is degraded (no sample: no directory)",
    ["backend"],
)
DIRECTORY_INFO = Gauge(
    "decision_directory_info",
    "The contact directory's backend: sqlite, postgresql or none",
    ["backend"],
)
DIRECTORY_INFO.labels("none").set(1)


class ContactProvider:
    """Opens `spec` at start (or uses `directory`, already open) and answers lookups."""

    name = "contact directory"
    fact = CONTACT

    def __init__(
        self,
        spec: str = "",
        lookup_timeout: float = 0.1,
        directory: ContactDirectory | None = None,
        log_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.lookup_timeout = lookup_timeout
        self.directory = directory
        backend = backend_name(spec) if spec else "given"
        DIRECTORY_INFO.clear()
        DIRECTORY_INFO.labels(backend).set(1)
        self.health: Health = Health(HEALTH_NAME, DIRECTORY_UP.labels(backend))
        self._log_interval = log_interval
        self._clock = clock
        self._next_log = 0.0
        self._unlogged = 0

    async def start(self) -> None:
        if self.directory is None:
            # A database unreachable now is a directory whose lookups fail until it answers:
            # a pod restarted during an outage still routes.
            self.directory = await open_directory(
                self.spec, self.lookup_timeout, start_unreachable=True
            )
            # Degraded from the start, not from the first lookup that fails: health and
            # decision_directory_up said "up" through an outage that began before the start.
            # A lookup that succeeds says "up" again.
            if not self.directory.backend.reachable:
                self.health.set(False)

    async def stop(self) -> None:
        if self.directory is not None:
            await self.directory.close()

    def on_reload_signal(self) -> None:
        """Nothing to do on SIGHUP: the directory tells of its own changes."""

    async def lookup(self, e164: str) -> Contact | None:
        """The contact of a number; raises what the directory raises, after counting it."""
        assert self.directory is not None, "started"
        try:
            contact = await self.directory.lookup(e164)
        except Exception as error:
            self.failed(error)
            raise
        self.succeeded()
        return contact

    async def provide(self, request: CallbackFields, default_region: str) -> tuple[Any, str]:
        e164 = number_facts(request.phone_number, request.country_code, default_region).e164
        try:
            return await self.lookup(e164), ""
        except Exception as error:
            reason = "timeout" if isinstance(error, TimeoutError) else "error"
            return None, f"contact directory {reason}: caller treated as unknown"

    def describe(self, value: Any, facts: decision_pb2.CallerFacts) -> None:
        facts.contact_known = value is not None

    def succeeded(self) -> None:
        if not self.health.ok:
            log.info("contact directory answers again")
            self.health.set(True)

    def failed(self, error: BaseException) -> None:
        """Counts the failure and logs it, at most once per interval."""
        reason = "timeout" if isinstance(error, TimeoutError) else "error"
        DIRECTORY_FAILURES.labels(reason).inc()
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
        self.health.set(False)
