"""Clients of the decision service for internal apps (async and blocking), and for the facade.

Every call carries a deadline. The channel retries UNAVAILABLE within that deadline (gRPC's
service-config retry policy), spreads calls over every address the target resolves to
(round_robin: give `dns:///decision:50051` or `ipv4:10.0.0.1:50051,10.0.0.2:50051` for several
replicas), and reconnects by itself within about a second once the service is back."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from types import ModuleType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contract.v1 import decision_pb2, decision_pb2_grpc

DEFAULT_TIMEOUT = 0.5
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [{"service": "decision.v1.DecisionService"}],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.01s",
                "maxBackoff": "0.1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}
CHANNEL_OPTIONS = (
    ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
    ("grpc.enable_retries", 1),
    # Keepalive notices a dead peer behind a silent network (a killed pod, a dropped NAT entry)
    # in seconds instead of the kernel's minutes.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # gRPC's default reconnect backoff grows to two minutes; a router must notice a restarted
    # decision service at once.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    # GetRules carries the whole rules file (at most 2 MiB, the supported size) and a count per
    # rule: room to spare over gRPC's default of 4 MiB.
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
)


def _options(server_name: str | None) -> tuple[tuple[str, object], ...]:
    if not server_name:
        return CHANNEL_OPTIONS
    return (*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", server_name))


def _open_channel(
    api: ModuleType,
    target: str,
    credentials: grpc.ChannelCredentials | None,
    server_name: str | None,
) -> Any:
    """`api` is `grpc` or `grpc.aio`: both open channels the same way."""
    options = _options(server_name)
    if credentials is None:
        return api.insecure_channel(target, options=options)
    return api.secure_channel(target, credentials, options=options)


def _metadata(
    request_id: str | None, extra: tuple[tuple[str, str], ...] = ()
) -> tuple[tuple[str, str], ...]:
    return ((("x-request-id", request_id),) if request_id else ()) + extra


class DecisionClient:
    """asyncio client; one instance keeps one channel open for the life of the process."""

    def __init__(
        self,
        target: str,
        timeout: float = DEFAULT_TIMEOUT,
        credentials: grpc.ChannelCredentials | None = None,
        server_name: str | None = None,
    ) -> None:
        """`credentials`: TLS or mTLS (grpc.ssl_channel_credentials); `server_name`: the name
        the service's certificate carries, when it differs from the target's host."""
        self.target = target
        self.timeout = timeout
        self._channel = _open_channel(grpc.aio, target, credentials, server_name)
        stub = decision_pb2_grpc.DecisionServiceStub(self._channel)
        self._decide = stub.Decide
        self._lookup = stub.LookupContact
        self._stub = stub
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def decide(
        self,
        request: decision_pb2.DecideRequest,
        timeout: float | None = None,
        request_id: str | None = None,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> decision_pb2.DecideResponse:
        """Raises grpc.aio.AioRpcError (DEADLINE_EXCEEDED, UNAVAILABLE, ...) on failure.
        `extra`: more metadata (a trace's `traceparent`)."""
        return await self._decide(
            request, timeout=timeout or self.timeout, metadata=_metadata(request_id, extra)
        )

    async def lookup_contact(
        self, phone_number: str, country_code: str = "", timeout: float | None = None
    ) -> decision_pb2.LookupContactResponse:
        """The directory's contact for a number (FAILED_PRECONDITION without a directory)."""
        request = decision_pb2.LookupContactRequest(
            phone_number=phone_number, country_code=country_code
        )
        return await self._lookup(request, timeout=timeout or self.timeout)

    async def explain(
        self, request: decision_pb2.DecideRequest, timeout: float | None = None
    ) -> decision_pb2.ExplainResponse:
        """The decision with every rule's part in it; nothing is counted or logged."""
        return await self._stub.Explain(request, timeout=timeout or self.timeout)

    async def get_rules(self, timeout: float | None = None) -> decision_pb2.GetRulesResponse:
        """The live rules, their history since start and decisions per rule."""
        return await self._stub.GetRules(
            decision_pb2.GetRulesRequest(), timeout=timeout or self.timeout
        )

    async def list_decisions(
        self,
        rule: str = "",
        after_sequence: int = 0,
        limit: int = 0,
        timeout: float | None = None,
    ) -> decision_pb2.ListDecisionsResponse:
        """The replica's recent decisions, newest first (numbers masked unless it logs them)."""
        request = decision_pb2.ListDecisionsRequest(
            rule=rule, after_sequence=after_sequence, limit=limit
        )
        return await self._stub.ListDecisions(request, timeout=timeout or self.timeout)

    async def serving(self, timeout: float | None = None) -> bool:
        """Whether the service answers its health check with SERVING."""
        try:
            # types-grpcio-health-checking declares HealthStub without its methods (the
            # generated class sets them per instance), so mypy cannot see Check.
            reply = await self._health.Check(  # type: ignore[attr-defined]
                health_pb2.HealthCheckRequest(service=""), timeout=timeout or self.timeout
            )
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    async def watch_serving(self) -> AsyncGenerator[bool, None]:
        """Whether the service is SERVING: first its status now, then each change of it, as the
        service pushes them (gRPC's Health.Watch). One long-lived stream, so no deadline (the
        channel's keepalive notices a dead peer); it waits until the service is reachable, and
        raises grpc.aio.AioRpcError when the stream breaks (the service stopped, the peer went
        away). Cancelling the consumer cancels the stream."""
        # The stub package declares HealthStub without its methods (as for Check).
        call = self._health.Watch(  # type: ignore[attr-defined]
            health_pb2.HealthCheckRequest(service=""), wait_for_ready=True
        )
        try:
            async for reply in call:
                yield reply.status == health_pb2.HealthCheckResponse.SERVING
        finally:
            call.cancel()

    async def close(self) -> None:
        await self._channel.close()


class BlockingDecisionClient:
    """The same for threaded code (scripts, WSGI apps, IVR glue)."""

    def __init__(
        self,
        target: str,
        timeout: float = DEFAULT_TIMEOUT,
        credentials: grpc.ChannelCredentials | None = None,
        server_name: str | None = None,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self._channel = _open_channel(grpc, target, credentials, server_name)
        stub = decision_pb2_grpc.DecisionServiceStub(self._channel)
        self._decide = stub.Decide
        self._lookup = stub.LookupContact

    def decide(
        self,
        request: decision_pb2.DecideRequest,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> decision_pb2.DecideResponse:
        """Raises grpc.RpcError on failure."""
        return self._decide(
            request, timeout=timeout or self.timeout, metadata=_metadata(request_id)
        )

    def lookup_contact(
        self, phone_number: str, country_code: str = "", timeout: float | None = None
    ) -> decision_pb2.LookupContactResponse:
        request = decision_pb2.LookupContactRequest(
            phone_number=phone_number, country_code=country_code
        )
        return self._lookup(request, timeout=timeout or self.timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> BlockingDecisionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
