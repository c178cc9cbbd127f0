"""Whether the decision service is serving, as this facade sees it: kept by one Health.Watch
stream (the service pushes each change of its status), and read for free by the
`facade_decision_serving` gauge and `GET /healthz/decision`. Never by readiness: the facade
answers TrueEngage either way (it fails open), so a decision outage must not take it out of its
load balancer."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc

from contract.client import DecisionClient
from facade import metrics
from plumbing.lifecycle import BackgroundTask

log = logging.getLogger("facade.decision_health")
# Between one stream and the next. A stopped service costs nothing while it is down (the next
# Watch waits for the channel to reconnect); this paces the question to a service that says
# NOT_SERVING, or answers the Watch with an error: one small RPC a second at most.
RETRY_SECONDS = 1.0


class DecisionHealth:
    """`serving` is False until the service first says SERVING, and again from the moment the
    service says anything else (NOT_SERVING while it shuts down) or the stream breaks; when the
    stream of a SERVING service breaks with UNAVAILABLE, a second later unless a new stream says
    SERVING by then (the service closing an old connection is no outage)."""

    def __init__(self, client: DecisionClient, retry_seconds: float = RETRY_SECONDS) -> None:
        self.client = client
        self.retry_seconds = retry_seconds
        self.serving = False
        self._task = BackgroundTask()
        self._lapse: asyncio.TimerHandle | None = None  # "not serving", unless heard again

    def start(self) -> None:
        """Starts watching, on the running event loop (the client's channel belongs to it)."""
        self._task.start(self._watch(), name="decision-health")

    async def stop(self) -> None:
        if self._lapse is not None:
            self._lapse.cancel()
            self._lapse = None
        await self._task.stop()

    def _set(self, serving: bool, reason: str = "") -> None:
        if self._lapse is not None:
            self._lapse.cancel()
            self._lapse = None
        if serving == self.serving:
            return
        self.serving = serving
        metrics.DECISION_SERVING.set(1 if serving else 0)
        if serving:
            log.info("decision service serving")
        else:
            log.warning("decision service not serving (answers fail open): %s", reason)

    async def _watch(self) -> None:
        while True:
            reason = "health stream ended"
            heard = False
            try:
                async with contextlib.aclosing(self.client.watch_serving()) as statuses:
                    async for serving in statuses:
                        heard = True
                        self._set(serving, "status not SERVING")
                        if not serving:
                            # Most often the service is shutting down, and an open stream would
                            # hold its graceful stop for the whole grace period: let go, ask
                            # again in a moment (a stopped server refuses the new stream).
                            reason = "status not SERVING"
                            break
            except grpc.aio.AioRpcError as error:
                reason = error.code().name.lower()
            except Exception:  # a wrong or broken peer: no health to speak of, try again later
                reason = "bad health answer"
            if heard and self.serving and reason == "unavailable":
                # A SERVING service's stream broke: most often the service closed an old
                # connection (its --max-connection-age, every 30 minutes), and a new stream
                # on a new connection says SERVING at once. Ask again now, and say "not
                # serving" only if nothing is heard within retry_seconds (a stopped service).
                self._lapse = asyncio.get_running_loop().call_later(
                    self.retry_seconds, self._set, False, reason
                )
                continue
            self._set(False, reason)
            await asyncio.sleep(self.retry_seconds)
