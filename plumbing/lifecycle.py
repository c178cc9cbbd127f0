"""One lifecycle for background work: a `Component` starts, stops, hears SIGHUP and may have a
`Health` of its own (working or degraded, with a gauge). Nothing here knows what the work is;
`decision/service/components.py` runs the decision service's components."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, Protocol


class Gauge(Protocol):
    def set(self, value: float) -> None: ...


class Health:
    """Whether one dependency works, and its gauge (1 or 0); `watch` hears every switch."""

    def __init__(self, name: str, gauge: Gauge) -> None:
        """`name`: how health checks call it (a gRPC health service name)."""
        self.name = name
        self.ok = True
        self._gauge = gauge
        self._listeners: list[Callable[[bool], None]] = []
        gauge.set(1)

    def watch(self, listener: Callable[[bool], None]) -> None:
        self._listeners.append(listener)

    def set(self, ok: bool) -> None:
        if ok == self.ok:
            return
        self.ok = ok
        self._gauge.set(1 if ok else 0)
        for listener in self._listeners:
            listener(ok)


class Component(Protocol):
    """A piece of background work that lives as long as its service."""

    @property
    def name(self) -> str:
        """For log lines."""
        ...

    @property
    def health(self) -> Health | None:
        """None for work with nothing to report."""
        ...

    async def start(self) -> None:
        """Called once, in registration order, before the service answers; raising stops the
        start."""
        ...

    async def stop(self) -> None:
        """Called once on exit, in reverse order, after in-flight calls have finished."""
        ...

    def on_reload_signal(self) -> None:
        """SIGHUP. Must only raise a flag: a storm of signals costs nothing."""
        ...


class BackgroundTask:
    """A component's one loop, run as a task from `start` until `stop` cancels it."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self, loop_body: Coroutine[Any, Any, None], name: str | None = None) -> None:
        self._task = asyncio.get_running_loop().create_task(loop_body, name=name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
