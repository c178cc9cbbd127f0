"""Runs the decision service: DecisionService, standard health checking and reflection."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from decision.graceful import wait_for_exit_signal
from decision.rules_file import LiveRules
from decision.servicer import DecisionServicer
from decision.v1 import decision_pb2, decision_pb2_grpc

log = logging.getLogger("decision.server")
SERVICE_NAME = decision_pb2.DESCRIPTOR.services_by_name["DecisionService"].full_name


@dataclass(frozen=True)
class ServerSettings:
    listen: str = "127.0.0.1:50051"
    rules: str = "examples/rules.toml"
    grace_seconds: float = 5.0
    watch_interval: float = 1.0


async def serve(settings: ServerSettings) -> None:
    """Serves until SIGTERM/SIGINT, then lets in-flight calls finish within the grace period."""
    rules = LiveRules(settings.rules)  # refuses to start on a bad file: there is no old one
    server = grpc.aio.server(
        options=[
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
    )
    decision_pb2_grpc.add_DecisionServiceServicer_to_server(DecisionServicer(rules), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    host = settings.listen.rpartition(":")[0]
    bound = server.add_insecure_port(settings.listen)
    if not bound:
        raise SystemExit(f"decision: cannot listen on {settings.listen}")
    await server.start()
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    watcher = asyncio.create_task(rules.watch(settings.watch_interval))
    # Tests and `make run` read this line to learn the port when asked for port 0.
    print(f"decision: serving on {host}:{bound} rules {rules.current.version}", flush=True)

    await wait_for_exit_signal(on_reload=rules.reload)
    log.info("stopping: finishing in-flight calls (grace %.1fs)", settings.grace_seconds)
    watcher.cancel()
    await health_servicer.enter_graceful_shutdown()
    await server.stop(settings.grace_seconds)
