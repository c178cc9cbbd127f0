"""The grpc.aio server that carries decision.v1.DecisionService: its capacity options, TLS, the
service registered so that bytes which are not the method's request message are the caller's
error (INVALID_ARGUMENT), never an exception that leaves the service as UNKNOWN, and standard
health checking and reflection beside it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from contract.v1 import decision_pb2
from decision.service.settings import DecisionSettings
from plumbing.tracing import Tracing

if TYPE_CHECKING:
    from decision.service.servicer import DecisionServicer

SERVICE = decision_pb2.DESCRIPTOR.services_by_name["DecisionService"]
SERVICE_NAME = SERVICE.full_name
MAX_REQUEST_BYTES = 256 * 1024
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


def build_server(
    servicer: DecisionServicer,
    max_concurrent_calls: int = DecisionSettings.max_concurrent_calls,
    call_backlog: int = DecisionSettings.call_backlog,
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """The gRPC server around `servicer`, with standard health checking and reflection; not yet
    bound to a port. `start_serving` starts it."""
    server = new_server(
        max_concurrent_calls,
        call_backlog,
        [
            # Answer keepalive pings from clients that keep idle channels open.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
            # gRPC shares a taken port by default (SO_REUSEPORT): a second service started by
            # mistake, maybe with other rules, would silently get half the calls.
            ("grpc.so_reuseport", 0),
            # No request of ours is near this (a DecideRequest within the webhook's limits is
            # at most about 140 KiB); a larger one is refused before it is read into memory.
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
        ],
    )
    add_decision_service(servicer, server, servicer.tracing)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server, health_servicer


async def start_serving(
    server: grpc.aio.Server, health_servicer: health.aio.HealthServicer
) -> None:
    """Starts the server and tells health checks it is SERVING."""
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
