"""The decision service's background components (the rules file's watcher, the contact
directory, the decision log, the metrics endpoint; next a Genesys poller), registered once:
`Components` starts them in the order registered, tells each one's health to gRPC health checking
under its own name, and stops them in reverse."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, TypeAlias

from grpc_health.v1 import health_pb2

from plumbing.lifecycle import Component, Health

log = logging.getLogger("decision.server")
ServingStatus: TypeAlias = int  # a HealthCheckResponse.ServingStatus


class HealthStatuses(Protocol):
    """Where statuses are told: a health servicer, or every listener's (`Listeners`)."""

    async def set(self, name: str, status: ServingStatus) -> None: ...


class Components:
    def __init__(self) -> None:
        self._registered: list[Component] = []
        self._started: list[Component] = []
        self._tasks: set[asyncio.Task[None]] = set()  # health updates in flight

    def add(self, component: Component) -> None:
        self._registered.append(component)

    async def start(self, health_servicer: HealthStatuses | None = None) -> None:
        """Starts each in turn; when one fails, those already started are stopped and the error
        goes on up. A component's health status is SERVING or NOT_SERVING under its own name,
        while the service's own stays SERVING: routing goes on without any of them."""
        for component in self._registered:
            try:
                await component.start()
            except BaseException:
                await self.stop()
                raise
            self._started.append(component)
            if component.health is not None and health_servicer is not None:
                await _tell(health_servicer, component.health, component.health.ok)
                component.health.watch(self._teller(health_servicer, component.health))

    def _teller(self, health_servicer: HealthStatuses, of: Health) -> Callable[[bool], None]:
        def tell(ok: bool) -> None:  # heard on the request path: a task, never a wait
            task = asyncio.get_running_loop().create_task(_tell(health_servicer, of, ok))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return tell

    def on_reload_signal(self) -> None:
        for component in self._started:
            component.on_reload_signal()

    async def stop(self) -> None:
        """Stops what started, last first; one that fails to stop is logged and the others
        still stop."""
        while self._started:
            component = self._started.pop()
            try:
                await component.stop()
            except Exception:
                log.exception("%s did not stop cleanly", component.name)


async def _tell(health_servicer: HealthStatuses, of: Health, ok: bool) -> None:
    status = health_pb2.HealthCheckResponse
    await health_servicer.set(of.name, status.SERVING if ok else status.NOT_SERVING)
