"""The decision service's gRPC listeners: the one every client uses (`--listen`) and, when asked,
one for the facades alone (`--facade-listen`), each its own grpc.aio server around the same
servicer, so each has capacity of its own: connections, Decide slots, health watches,
reflection streams and the console's place.

Why two servers and not two ports of one: gRPC counts connections per port but everything else
(calls in progress, the servicer's budgets) per server, and in Python a port takes no options of
its own. With one server, whoever reaches the gRPC port could hold every connection (1,000 bare
TCP connections reopened as gRPC closes them) or the console's place (a reply never read), and
then a facade that connects afresh (restarted, or at its connection's age) found no room: every
webhook `{}`. On its own listener, fenced so only the facades reach it (the
production NetworkPolicy does), nothing another client holds can keep a facade out."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import grpc

from decision.service.components import ServingStatus
from decision.service.grpc_server import (
    BoundedHealthServicer,
    Capacity,
    build_server,
    start_serving,
)
from decision.service.servicer import DecisionServicer
from decision.service.settings import DecisionSettings


@dataclasses.dataclass
class Listener:
    flag: str  # the setting that names it, for messages
    address: str
    server: grpc.aio.Server
    health: BoundedHealthServicer
    port: int = 0

    def bind(self, credentials: grpc.ServerCredentials | None) -> None:
        try:
            if credentials is None:
                self.port = self.server.add_insecure_port(self.address)
            else:
                self.port = self.server.add_secure_port(self.address, credentials)
        except RuntimeError:  # grpc's way of saying the address is taken or invalid
            self.port = 0
        if not self.port:
            raise SystemExit(
                f"decision: cannot listen on {self.address} ({self.flag}: in use, or not an "
                "address)"
            )

    @property
    def bound(self) -> str:
        return f"{self.address.rpartition(':')[0]}:{self.port}"


class Listeners:
    """Every listener of one service: bound together, started together, told the same health
    (a component's status reaches every listener's health service), stopped together."""

    def __init__(
        self,
        servicer: DecisionServicer,
        capacity: Capacity,
        listen: str,
        facade_listen: str = "",
        facade_connections: int = DecisionSettings.facade_max_connections,
    ) -> None:
        """`facade_connections`: the facades' listener's cap (each facade process keeps one
        connection to each decision replica, a second for a moment when one ages out; the
        kubelet's probes take one briefly)."""
        server, health = build_server(servicer, capacity)
        self.main = Listener("--listen", listen, server, health)
        self.facades: Listener | None = None
        if facade_listen:
            server, health = build_server(
                servicer.for_another_listener(),
                dataclasses.replace(capacity, connections=facade_connections),
            )
            self.facades = Listener("--facade-listen", facade_listen, server, health)

    def __iter__(self) -> Iterator[Listener]:
        yield self.main
        if self.facades is not None:
            yield self.facades

    def bind(self, credentials: grpc.ServerCredentials | None) -> None:
        for listener in self:
            listener.bind(credentials)

    async def set(self, name: str, status: ServingStatus) -> None:
        for listener in self:
            await listener.health.set(name, status)

    async def start(self) -> None:
        for listener in self:
            await start_serving(listener.server, listener.health)

    async def stop(self, grace: float) -> None:
        """Health says NOT_SERVING everywhere first, then the calls in progress get `grace`."""
        for listener in self:
            await listener.health.enter_graceful_shutdown()
        await asyncio.gather(*(listener.server.stop(grace) for listener in self))
