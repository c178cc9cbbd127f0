"""The facades' own listener (`--facade-listen`): whatever a key-less client holds on the shared
gRPC port (every connection, every Decide slot, the console's place), a facade connecting afresh
is served on its own listener. Before it, 1,000 bare TCP connections reopened as gRPC closed them
kept every restarted facade (and every facade at its connection's age) out: every webhook `{}`."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contract.client import DecisionClient
from contract.v1 import decision_pb2
from decision.rules.live import LiveRules
from decision.service.grpc_server import Capacity, connections_allowed
from decision.service.listeners import Listeners
from decision.service.servicer import DecisionServicer
from plumbing.service_process import ServiceProcess
from tests.conftest import EXAMPLE_RULES, refused_start
from tests.raw_http2 import RawConnection
from tests.test_service_hostile import (
    DECIDE,
    GET_RULES,
    GUARD,
    UK_MOBILE,
    bare_connection,
    closed_by_server,
    decide,
    run,
)


@contextlib.asynccontextmanager
async def listening(capacity: Capacity) -> AsyncIterator[Listeners]:
    listeners = Listeners(
        DecisionServicer(LiveRules(EXAMPLE_RULES)), capacity, "127.0.0.1:0", "127.0.0.1:0"
    )
    listeners.bind(None)
    await listeners.start()
    try:
        yield listeners
    finally:
        await listeners.stop(0)


def test_connections_held_on_the_shared_port_never_keep_a_facade_out():
    async def scenario() -> None:
        async with listening(Capacity(connections=2, handshake_timeout_ms=60_000)) as listeners:
            assert listeners.facades is not None
            held = [bare_connection(listeners.main.port) for _ in range(2)]
            extra = bare_connection(listeners.main.port)
            await asyncio.wait_for(closed_by_server(extra), GUARD)  # the shared port is full
            with pytest.raises(grpc.aio.AioRpcError):
                await decide(listeners.main.port)
            # A facade connecting now (restarted, or at its connection's age) is served.
            assert (await decide(listeners.facades.port)).matched_rules
            for connection in (*held, extra):
                connection.close()

    run(scenario)


def test_a_stalled_console_reply_on_the_shared_port_leaves_the_facades_console_free():
    async def scenario() -> None:
        async with listening(Capacity()) as listeners:
            assert listeners.facades is not None
            stalled = await RawConnection.open("127.0.0.1", listeners.main.port, window=0)
            streams = [stalled.call(GET_RULES, b"") for _ in range(5)]  # 1 held + 4 waiting
            await asyncio.wait_for(stalled.response_headers[streams[0]].wait(), GUARD)
            shared = DecisionClient(f"127.0.0.1:{listeners.main.port}", timeout=10)
            facades = DecisionClient(f"127.0.0.1:{listeners.facades.port}", timeout=10)
            try:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await shared.get_rules()
                assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert (await facades.get_rules()).version  # before: 502 in the console
            finally:
                await shared.close()
                await facades.close()
                await stalled.close()

    run(scenario)


def test_a_components_health_reaches_every_listener():
    async def scenario() -> None:
        async with listening(Capacity()) as listeners:
            await listeners.set("directory", health_pb2.HealthCheckResponse.NOT_SERVING)
            for listener in listeners:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{listener.port}") as channel:
                    reply = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(service="directory"), timeout=10
                    )
                    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING

    run(scenario)


def test_the_facades_connections_come_out_of_the_open_files_limit():
    assert connections_allowed(1024, reserved=256) == 896 - 256


def test_a_service_with_a_facade_listener_serves_both_and_stops_cleanly():
    service = ServiceProcess(
        "decision",
        ["serve", "--listen", "127.0.0.1:0", "--facade-listen", "127.0.0.1:0"],
    )
    try:
        facades = int(service.ready_line.rpartition(":")[2])
        for port in (service.port, facades):
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            try:
                reply = channel.unary_unary(
                    DECIDE,
                    request_serializer=decision_pb2.DecideRequest.SerializeToString,
                    response_deserializer=decision_pb2.DecideResponse.FromString,
                )(UK_MOBILE, timeout=10)
                assert reply.matched_rules
            finally:
                channel.close()
    finally:
        assert service.stop() == 0


def test_a_facade_listener_on_a_taken_address_is_one_line():
    running = ServiceProcess("decision", ["serve", "--listen", "127.0.0.1:0"])
    try:
        result = refused_start("decision", {"DECISION_FACADE_LISTEN": f"127.0.0.1:{running.port}"})
    finally:
        running.stop()
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"decision: cannot listen on 127.0.0.1:{running.port} (--facade-listen: in use, or not "
        "an address)"
    )
    assert "Traceback" not in result.stderr


def test_the_same_address_for_both_listeners_is_refused_by_name():
    same = "127.0.0.1:50999"
    result = subprocess.run(
        [sys.executable, "-m", "decision", "serve", "--listen", same, "--facade-listen", same],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"decision: --facade-listen and --listen are the same address ({same}): give each its own"
    ]


def test_decisions_on_the_shared_port_stay_out_of_the_facades_console():
    """Adversary round 4, F6: 1,000 Decide calls on the shared port left the facades' console
    (500 recent decisions) with none of theirs."""

    async def scenario() -> None:
        async with listening(Capacity()) as listeners:
            assert listeners.facades is not None
            facade_answer = await decide(listeners.facades.port)
            for _ in range(3):
                await decide(listeners.main.port)
            facades = DecisionClient(f"127.0.0.1:{listeners.facades.port}", timeout=10)
            shared = DecisionClient(f"127.0.0.1:{listeners.main.port}", timeout=10)
            try:
                seen = [d.response.decision_id for d in (await facades.list_decisions()).decisions]
                assert seen == [facade_answer.decision_id]
                assert len((await shared.list_decisions()).decisions) == 3
            finally:
                await facades.close()
                await shared.close()

    run(scenario)
