"""The grpc.aio server that carries decision.v1.DecisionService: its capacity options, TLS, the
service registered so that bytes which are not the method's request message are the caller's
error (INVALID_ARGUMENT), never an exception that leaves the service as UNKNOWN, and standard
health checking and reflection beside it, each with a budget of its own (`budgets`).

What a key-less client in the cluster can hold is bounded here: connections (below the
open-files limit, so a connecting facade always finds a descriptor), the time a connection may
take to say its first word, streams per connection, calls in progress by kind, the bytes of one
request, and how long any call or connection may live (a reply the client never reads is
dropped with its connection at the latest `max_connection_age` plus its grace)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import resource
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass
from grpc._cython import cygrpc  # type: ignore[attr-defined]
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer

from contract.v1 import decision_pb2
from decision.service import metrics
from decision.service.budgets import REFLECTION_STREAMS, WATCH_STREAMS, StreamBudget
from decision.service.servicer import MAX_REQUEST_BYTES
from decision.service.settings import DecisionSettings
from plumbing.tracing import Tracing

if TYPE_CHECKING:
    from decision.service.servicer import DecisionServicer

SERVICE = decision_pb2.DESCRIPTOR.services_by_name["DecisionService"]
SERVICE_NAME = SERVICE.full_name
# Descriptors kept apart from gRPC connections: listeners, the rules and log files, a SQLite
# directory or PostgreSQL pool, the metrics endpoint's connections, gRPC's own (epoll, wakeups).
DESCRIPTOR_HEADROOM = 128
MAX_CONNECTIONS = 1000
# One connection's streams: the facade keeps up to --max-in-flight (512) Decide calls and one
# Watch on one channel; a client past this waits for a stream of its own, client side, and no
# one connection takes every Decide slot.
STREAMS_PER_CONNECTION = 600
LOOKAHEAD_BYTES = 16 * 1024
Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Message]]


class _Unreadable:
    """What the deserializer hands on for bytes that do not parse (a sentinel, never a message)."""


UNREADABLE = _Unreadable()


def new_server(
    max_concurrent_calls: int, call_backlog: int, options: Sequence[tuple[str, Any]] = ()
) -> grpc.aio.Server:
    """A grpc.aio server that answers every call it accepts: one past `max_concurrent_calls` in
    progress is refused with RESOURCE_EXHAUSTED. gRPC core queues the calls that arrive faster
    than the service takes them up and, past its default backlog of 1,000 (some) to 3,000 (all),
    ends them with a bare CANCELLED; `call_backlog` raises that bound, so a burst on one busy
    channel reaches the service, which answers or refuses each call in microseconds."""
    return grpc.aio.server(
        maximum_concurrent_rpcs=max_concurrent_calls,
        options=[
            *options,
            ("grpc.server.max_pending_requests", call_backlog),
            ("grpc.server.max_pending_requests_hard_limit", call_backlog),
        ],
    )


def _reader(message_class: type[Message]) -> Callable[[bytes], Message | _Unreadable]:
    def read(data: bytes) -> Message | _Unreadable:
        try:
            return message_class.FromString(data)
        except DecodeError:  # bad UTF-8 in a string field, a truncated field, ...
            return UNREADABLE

    return read


def _refusing_unreadable(behaviour: Behaviour, type_name: str) -> Behaviour:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Message:
        if request is UNREADABLE:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"request is not a valid {type_name} message"
            )
        return await behaviour(request, context)

    return handle


def _traced(behaviour: Behaviour, name: str, tracing: Tracing) -> Behaviour:
    """The call in a server span that continues the caller's trace (its `traceparent`)."""

    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Message:
        with tracing.server_span(name, context.invocation_metadata()):
            return await behaviour(request, context)

    return handle


def add_decision_service(
    servicer: Any, server: grpc.aio.Server, tracing: Tracing | None = None
) -> None:
    """Registers every method of decision.v1.DecisionService, as the generated
    `add_DecisionServiceServicer_to_server` does, with requests read by `_reader`; with
    `tracing` on, each call is a span (off, nothing is wrapped: no cost)."""
    handlers = {}
    for method in SERVICE.methods:
        if method.client_streaming or method.server_streaming:  # none is, today
            raise TypeError(f"{method.full_name}: streaming methods need their own handler kind")
        behaviour = _refusing_unreadable(
            getattr(servicer, method.name), method.input_type.full_name
        )
        if tracing is not None and tracing.enabled:
            behaviour = _traced(behaviour, f"{SERVICE.full_name}/{method.name}", tracing)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=_reader(GetMessageClass(method.input_type)),
            response_serializer=GetMessageClass(method.output_type).SerializeToString,
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),)
    )
    server.add_registered_method_handlers(SERVICE.full_name, handlers)


def server_credentials(settings: DecisionSettings) -> grpc.ServerCredentials | None:
    """TLS with --tls-cert/--tls-key; mTLS (client certificates required) with --tls-client-ca."""
    if not settings.tls_cert:
        return None
    try:
        client_ca = Path(settings.tls_client_ca).read_bytes() if settings.tls_client_ca else None
        key, cert = Path(settings.tls_key).read_bytes(), Path(settings.tls_cert).read_bytes()
    except OSError as error:
        raise SystemExit(f"decision: cannot read {error.filename}: {error.strerror}") from None
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def connections_allowed(open_files: int | None = None, reserved: int = 0) -> int:
    """The default connection cap: what the open-files limit (`ulimit -n`, `nofile`) leaves
    after DESCRIPTOR_HEADROOM and `reserved` (another listener's connections), at most
    MAX_CONNECTIONS (896 under a limit of 1,024)."""
    if open_files is None:
        open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if open_files == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, open_files - DESCRIPTOR_HEADROOM - reserved))


@dataclasses.dataclass(frozen=True)
class Capacity:
    """What the server carries at once. `calls`: Decide and LookupContact calls in progress
    (one more is RESOURCE_EXHAUSTED); the other kinds have budgets of their own on top, so gRPC's
    own cap is their sum. `connections` 0: `connections_allowed()`."""

    calls: int = DecisionSettings.max_concurrent_calls
    backlog: int = DecisionSettings.call_backlog
    connections: int = 0
    streams_per_connection: int = STREAMS_PER_CONNECTION
    watch_streams: int = WATCH_STREAMS
    reflection_streams: int = REFLECTION_STREAMS
    console_calls: int = 0  # the servicer's console budget: in progress and waiting
    # A connection that has not sent HTTP/2's preface and settings by then is closed (gRPC's
    # default is 120 s; a real client sends them at once).
    handshake_timeout_ms: int = 5_000
    # A connection with no call for this long is closed (the client reconnects when it needs to).
    idle_ms: int = 5 * 60_000
    # Every connection ends after this (plus up to 10% jitter, gRPC's): GOAWAY, then calls in
    # progress get the grace; what is left then (a reply the client never reads) goes with it.
    # 0: never. (gRPC in Python cannot end one call whose reply is not being read.)
    max_age_ms: int = 30 * 60_000
    age_grace_ms: int = 30_000

    @property
    def all_calls(self) -> int:
        return self.calls + self.watch_streams + self.reflection_streams + self.console_calls


class BoundedHealthServicer(health_pb2_grpc.HealthServicer):
    """The standard health service (grpc.health.v1), with at most `limit` Watch streams open at
    once (one more is RESOURCE_EXHAUSTED; Check, what probes use, is a short call and
    unbounded), and statuses that are set without waiting for any watcher.

    grpc_health's own servicer writes each watcher's update while holding a lock that `set`
    needs: one Watch whose client grants no flow-control window held it for good, so a status
    could never be set again, and SIGTERM hung in `enter_graceful_shutdown` (the pod then
    killed after its grace, every other watcher told nothing). Here each watcher is woken by an
    event of its own and writes on its own; a stalled one stalls only itself, until the call
    ends with its connection or the server's stop."""

    def __init__(self, limit: int = WATCH_STREAMS) -> None:
        self.watches = StreamBudget(limit)
        self._status: dict[str, int] = {"": health_pb2.HealthCheckResponse.SERVING}
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._shutting_down = False

    async def Check(self, request: Any, context: Any) -> health_pb2.HealthCheckResponse:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(self, request: Any, context: Any) -> None:
        if not self.watches.take():
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.watches.limit} health watches are open; use Check, or try again later",
            )
        changed = asyncio.Event()
        watchers = self._watchers.setdefault(request.service, set())
        watchers.add(changed)
        last = None
        try:
            while True:
                changed.clear()  # before reading: a change while writing wakes the next turn
                status = self._status.get(
                    request.service, health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
                )
                if status != last:  # only the latest status matters to a watcher
                    await context.write(health_pb2.HealthCheckResponse(status=status))
                    last = status
                await changed.wait()
        finally:
            watchers.discard(changed)
            if not watchers:
                self._watchers.pop(request.service, None)
            self.watches.release()

    async def set(self, service: str, status: int) -> None:
        """Sets `service`'s status (ignored once shutting down); never waits."""
        if not self._shutting_down:
            self._tell(service, status)

    async def enter_graceful_shutdown(self) -> None:
        """Every service NOT_SERVING, for good."""
        self._shutting_down = True
        for service in list(self._status):
            self._tell(service, health_pb2.HealthCheckResponse.NOT_SERVING)

    def _tell(self, service: str, status: int) -> None:
        self._status[service] = status
        for changed in self._watchers.get(service, ()):
            changed.set()


class BoundedReflectionServicer(ReflectionServicer):
    """Standard server reflection, with at most `limit` streams open at once."""

    def __init__(self, service_names: Sequence[str], limit: int = REFLECTION_STREAMS) -> None:
        super().__init__(service_names)
        self.streams = StreamBudget(limit)

    async def ServerReflectionInfo(  # type: ignore[override]
        self, request_iterator: Any, context: Any
    ) -> AsyncIterator[Any]:
        if not self.streams.take():
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.streams.limit} reflection streams are open; try again later",
            )
        try:
            replies: Any = super().ServerReflectionInfo(request_iterator, context)
            async for reply in replies:  # an async generator, whatever the stubs say
                yield reply
        finally:
            self.streams.release()


class ClientWentAway(logging.Filter):
    """gRPC logs a call whose client went away before its answer was sent (a reply never read,
    a connection closed) as an ERROR with a traceback, `ExecuteBatchError raised in core by
    servicer method`: the client's doing, not the service's fault. Counted instead
    (decision_replies_abandoned_total), never logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, cygrpc.ExecuteBatchError):
            metrics.REPLIES_ABANDONED.inc()
            return False
        return True


def quiet_about_clients_gone() -> None:
    """Installs ClientWentAway on gRPC's server logger, once."""
    grpc_log = logging.getLogger(cygrpc.__name__)
    if not any(isinstance(f, ClientWentAway) for f in grpc_log.filters):
        grpc_log.addFilter(ClientWentAway())


def server_options(capacity: Capacity) -> list[tuple[str, Any]]:
    connections = capacity.connections or connections_allowed()
    return [
        # Answer keepalive pings from clients that keep idle channels open.
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        # gRPC shares a taken port by default (SO_REUSEPORT): a second service started by
        # mistake, maybe with other rules, would silently get half the calls.
        ("grpc.so_reuseport", 0),
        # The largest request `oversized` lets through (every character 4 bytes of UTF-8),
        # with a margin; a larger one is refused by gRPC before it is read into memory, so
        # calls in progress hold at most this each in incomplete requests.
        ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
        # A stream may receive 16 KiB before the service takes its call up (gRPC then opens
        # the window to the message's declared length, within the limit above), and windows
        # do not grow beyond what was asked (no BDP probing): calls refused at the cap no
        # longer buffer a whole message each (measured: 2,000 incomplete 139 KB requests, RSS
        # 47 -> 321-452 MB with gRPC's defaults, 244-256 MB with these).
        ("grpc.http2.lookahead_bytes", LOOKAHEAD_BYTES),
        ("grpc.http2.bdp_probe", 0),
        # Past this many connections gRPC closes a new one at once: the descriptors left are
        # the files' and the metrics endpoint's (1,100 silent connections once took them all,
        # and then no facade could connect).
        ("grpc.max_allowed_incoming_connections", connections),
        ("grpc.server_handshake_timeout_ms", capacity.handshake_timeout_ms),
        ("grpc.max_concurrent_streams", capacity.streams_per_connection),
        ("grpc.max_connection_idle_ms", capacity.idle_ms),
    ] + (
        [
            ("grpc.max_connection_age_ms", capacity.max_age_ms),
            ("grpc.max_connection_age_grace_ms", capacity.age_grace_ms),
        ]
        if capacity.max_age_ms
        else []
    )


def build_server(
    servicer: DecisionServicer, capacity: Capacity | None = None
) -> tuple[grpc.aio.Server, BoundedHealthServicer]:
    """The gRPC server around `servicer`, with standard health checking and reflection; not yet
    bound to a port. `start_serving` starts it."""
    quiet_about_clients_gone()
    console = servicer.console
    capacity = dataclasses.replace(
        capacity or Capacity(), console_calls=console.limit + console.waiting
    )
    server = new_server(capacity.all_calls, capacity.backlog, server_options(capacity))
    add_decision_service(servicer, server, servicer.tracing)
    health_servicer = BoundedHealthServicer(capacity.watch_streams)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        BoundedReflectionServicer(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME),
            capacity.reflection_streams,
        ),
        server,
    )
    return server, health_servicer


async def start_serving(server: grpc.aio.Server, health_servicer: BoundedHealthServicer) -> None:
    """Starts the server and tells health checks it is SERVING."""
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
