"""Runs the decision service: DecisionService, standard health checking and reflection."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from contract.v1 import decision_pb2
from decision.decision_log.writer import DecisionLog
from decision.directory import open_directory
from decision.rules.live import LiveRules
from decision.service.grpc_server import add_decision_service, new_server
from decision.service.servicer import DecisionServicer
from decision.service.settings import DecisionSettings
from plumbing.graceful import wait_for_exit_signal
from plumbing.logs import AccessLog

log = logging.getLogger("decision.server")
SERVICE_NAME = decision_pb2.DESCRIPTOR.services_by_name["DecisionService"].full_name


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


def start_metrics_server(listen: str) -> None:
    from prometheus_client import start_http_server

    host, _, port = listen.rpartition(":")
    try:
        start_http_server(int(port), addr=host or "0.0.0.0")
    except (ValueError, OSError) as error:
        raise SystemExit(f"decision: cannot serve metrics on {listen}: {error}") from None


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
        ],
    )
    add_decision_service(servicer, server)
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


DIRECTORY_HEALTH_NAME = "callback-router.contacts"


def _tell_health(health_servicer: health.aio.HealthServicer, ok: bool) -> None:
    """The directory's own health status: NOT_SERVING while it fails ("degraded"), while the
    service's overall status stays SERVING, because decisions go on without contacts."""
    status = (
        health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    _background.add(task := asyncio.create_task(health_servicer.set(DIRECTORY_HEALTH_NAME, status)))
    task.add_done_callback(_background.discard)


_background: set[asyncio.Task] = set()  # keeps fire-and-forget tasks referenced until done


async def serve(settings: DecisionSettings) -> None:
    """Serves until SIGTERM/SIGINT, then lets in-flight calls finish within the grace period."""
    if settings.max_concurrent_calls < 1 or settings.call_backlog < 1:
        raise SystemExit("decision: --max-concurrent-calls and --call-backlog must be at least 1")
    # Refuses to start on a bad file: there is no old one to keep.
    rules = await LiveRules.open(settings.rules, settings.rules_settle)
    directory = None
    if settings.contacts:
        directory = await open_directory(
            settings.contacts, settings.contacts_timeout_ms / 1000, start_unreachable=True
        )
    access_log = AccessLog("decision") if settings.access_log else None
    decision_log = None
    if settings.decision_log:
        try:
            decision_log = DecisionLog(
                settings.decision_log,
                settings.log_full_numbers,
                settings.decision_log_buffer,
                settings.decision_log_buffer_bytes,
            )
        except OSError as error:
            raise SystemExit(
                f"decision: cannot open the decision log {settings.decision_log}: {error.strerror}"
            ) from None
    servicer = DecisionServicer(
        rules,
        full_numbers=settings.log_full_numbers,
        access_log=access_log,
        directory=directory,
        decision_log=decision_log,
    )
    server, health_servicer = build_server(
        servicer, settings.max_concurrent_calls, settings.call_backlog
    )
    servicer.directory_health.on_change = lambda ok: _tell_health(health_servicer, ok)
    credentials = server_credentials(settings)
    try:
        if credentials is None:
            bound = server.add_insecure_port(settings.listen)
        else:
            bound = server.add_secure_port(settings.listen, credentials)
    except RuntimeError:  # grpc's way of saying the address is taken or invalid
        bound = 0
    if not bound:
        raise SystemExit(
            f"decision: cannot listen on {settings.listen} (in use, or not an address)"
        )
    if settings.metrics_listen:
        start_metrics_server(settings.metrics_listen)
    await start_serving(server, health_servicer)
    if directory is not None:
        _tell_health(health_servicer, True)
    reloader = asyncio.create_task(rules.run(settings.watch_interval))
    # Tests and `make run` read this line to learn the port when asked for port 0.
    host = settings.listen.rpartition(":")[0]
    print(
        f"decision: serving on {host}:{bound} rules {rules.current.version}"
        f"{' tls' if credentials else ''}",
        flush=True,
    )

    def on_sighup() -> None:  # both only raise a flag: a storm of signals costs nothing
        rules.request_reload()
        if decision_log is not None:
            decision_log.reopen()

    await wait_for_exit_signal(on_reload=on_sighup)
    log.info("stopping: finishing in-flight calls", extra={"grace_seconds": settings.grace})
    reloader.cancel()
    await health_servicer.enter_graceful_shutdown()
    await server.stop(settings.grace)
    if directory is not None:
        await directory.close()
    if decision_log is not None:
        decision_log.close()
    if access_log is not None:
        access_log.flush()
