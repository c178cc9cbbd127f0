"""The services inside the test process: the real facade (FacadeServer, as `serve` builds it) and
a real grpc.aio decision service (the real DecisionServicer) on loopback ports, run by one event
loop on a background thread. Tests talk to them over HTTP and gRPC exactly as TrueEngage does,
and can still hand them collaborators (a clock, a log stream) that a process would not take."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import grpc
import tornado.netutil

from decision.directory import open_directory
from decision.directory.cached import CachedDirectory
from decision.directory.provider import ContactProvider
from decision.rules.live import LiveRules
from decision.service.grpc_server import build_server, start_serving
from decision.service.servicer import DecisionServicer
from facade.app import FacadeServer
from facade.config import FacadeSettings
from facade.rate_limit import RateLimiter
from plumbing.event_loop import chosen_loop, loop_factory
from plumbing.logs import AccessLog
from plumbing.tracing import Tracing

T = TypeVar("T")


class EventLoopThread:
    """An asyncio loop on a daemon thread; `run` runs a coroutine there and returns its result.
    One loop for the whole session: grpc.aio objects belong to the loop that made them."""

    def __init__(self) -> None:
        # The loop the services would run on as processes (uvloop unless told otherwise).
        self.loop = loop_factory(chosen_loop())()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="in-process-services", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class InProcessDecision:
    """The decision service as `decision.service.runtime` builds it (health, reflection), around the real
    servicer, a rules file and optionally a real contact directory; `stop` and `start` again on
    the same port stand for an outage, `close` ends it (directory included)."""

    def __init__(
        self,
        services: EventLoopThread,
        rules: Path | str,
        credentials: grpc.ServerCredentials | None = None,
        contacts: str = "",
        tracing: Tracing | None = None,
    ) -> None:
        self.services = services
        self.directory: CachedDirectory | None = None
        if contacts:
            self.directory = services.run(open_directory(contacts))
        providers = [ContactProvider(directory=self.directory)] if self.directory else []
        self.servicer = DecisionServicer(
            LiveRules(rules, settle=0), providers=providers, tracing=tracing
        )
        self.credentials = credentials
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self.start()

    def start(self) -> None:
        self._server, self.port = self.services.run(self._start())

    async def _start(self) -> tuple[grpc.aio.Server, int]:
        server, health_servicer = build_server(self.servicer)
        address = f"127.0.0.1:{self.port}"
        if self.credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, self.credentials)
        await start_serving(server, health_servicer)
        return server, port

    def stop(self) -> None:
        if self._server is not None:
            self.services.run(self._server.stop(None))
            self._server = None

    def close(self) -> None:
        self.stop()
        if self.directory is not None:
            self.services.run(self.directory.close())
            self.directory = None

    def __enter__(self) -> InProcessDecision:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class InProcessFacade:
    """The facade on a free loopback port, built from `settings` as `python -m facade serve`
    builds it; `access_log`, `limiter` and `clock` stand in for the ones it would use itself."""

    def __init__(
        self,
        services: EventLoopThread,
        settings: FacadeSettings,
        access_log: AccessLog | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        tracing: Tracing | None = None,
    ) -> None:
        self.services = services

        async def start() -> tuple[FacadeServer, int, int]:
            server = FacadeServer(settings, access_log, limiter, clock, tracing)
            sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
            server.http.add_sockets(sockets)
            admin_port = 0
            if server.admin is not None:  # the console, when the settings ask for one
                admin_sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
                server.admin.add_sockets(admin_sockets)
                admin_port = admin_sockets[0].getsockname()[1]
            return server, sockets[0].getsockname()[1], admin_port

        self.server, self.port, self.admin_port = services.run(start())
        self._stopped = False

    def reload_keys(self) -> None:
        """What SIGHUP does, without the signal."""

        async def reload() -> None:
            await self.server.reload_keys()

        self.services.run(reload())

    def stop(self) -> None:
        """Stops as on SIGTERM (the access log flushed); stopping again does nothing."""
        if not self._stopped:
            self._stopped = True
            self.services.run(self.server.stop())
