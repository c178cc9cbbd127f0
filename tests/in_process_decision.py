"""The real decision service in this process: the grpc.aio server `decision.server` builds, with
real rules and an optional real directory, on a loopback port, run by an event loop in a thread
so that tests (and their blocking clients) talk to it over gRPC as to the process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from decision.directory import open_directory
from decision.directory.cached import CachedDirectory
from decision.rules_file import LiveRules
from decision.server import build_server, start_serving
from decision.servicer import DecisionServicer

T = TypeVar("T")


class InProcessDecision:
    """Started on construction; stopped by `stop` or at the end of a `with` block. `directory` is
    the service's own (None without one)."""

    def __init__(self, rules: Path | str, contacts: str = "") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="decision-in-process")
        self._thread.start()
        self.directory: CachedDirectory | None = None
        try:
            self.port = self.run(self._start(rules, contacts))
        except BaseException:
            self._close_loop()
            raise

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Runs a coroutine on the service's loop (e.g. with its directory) and returns its result."""
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout=60)

    async def _start(self, rules: Path | str, contacts: str) -> int:
        if contacts:
            self.directory = await open_directory(contacts)
        servicer = DecisionServicer(LiveRules(rules), directory=self.directory)
        self._server, health_servicer = build_server(servicer)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await start_serving(self._server, health_servicer)
        return port

    async def _stop(self) -> None:
        await self._server.stop(None)
        if self.directory is not None:
            await self.directory.close()

    def stop(self) -> None:
        try:
            self.run(self._stop())
        finally:
            self._close_loop()

    def __enter__(self) -> InProcessDecision:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
