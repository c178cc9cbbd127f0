"""Runs the decision service: its background components, then DecisionService with standard health
checking and reflection, until SIGTERM; then in-flight calls finish and the components stop."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from decision.decision_log.writer import DecisionLog
from decision.directory.provider import ContactProvider
from decision.engine import RulesError
from decision.genesys.api import GenesysError
from decision.genesys.connect import genesys_api
from decision.genesys.live_poller import LivePoller
from decision.genesys.refresh import SnapshotRefresher, watch_snapshot_age
from decision.genesys.snapshot import SnapshotError, pull, write_snapshot
from decision.rules.live import LiveRules
from decision.service.components import Components
from decision.service.grpc_server import Capacity, connections_allowed, server_credentials
from decision.service.listeners import Listeners
from decision.service.metrics_http import MetricsEndpoint
from decision.service.servicer import MAX_REQUEST_BYTES, DecisionServicer
from decision.service.settings import DecisionSettings
from plumbing.event_loop import running_loop_name
from plumbing.graceful import wait_for_exit_signal
from plumbing.logs import AccessLog, logs_written_in_background
from plumbing.settings import parse_duration
from plumbing.tracing import Tracing, TracingSettingsError

log = logging.getLogger("decision.server")
SERVICE_NAME = "callback-router-decision"


class AtExit:
    """What must be written out at exit: the access log's batched lines, the spans not yet
    exported."""

    health = None

    def __init__(self, name: str, action: Callable[[], object]) -> None:
        self.name = name
        self.action = action

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.action()

    def on_reload_signal(self) -> None:
        pass


def open_decision_log(settings: DecisionSettings) -> DecisionLog:
    try:
        return DecisionLog(
            settings.decision_log,
            settings.log_full_numbers,
            settings.decision_log_buffer,
            settings.decision_log_buffer_bytes,
        )
    except OSError as error:
        raise SystemExit(
            f"decision: cannot open the decision log {settings.decision_log}: {error.strerror}"
        ) from None


async def open_rules(settings: DecisionSettings) -> LiveRules:
    """The live rules. A service that keeps its own org snapshot (--genesys-refresh and
    --genesys-snapshot) and has none yet, on a fresh deployment whose rules name a snapshot that
    is not there either, pulls one first instead of refusing to start."""
    own = Path(settings.genesys_snapshot) if settings.genesys_snapshot else None

    async def opened() -> LiveRules:
        return await LiveRules.open(
            settings.rules, settings.rules_settle, settings.watch_interval, own
        )

    try:
        return await opened()
    except RulesError as error:
        if not (
            settings.genesys_refresh
            and own is not None
            and not own.exists()
            and "genesys.snapshot:" in str(error)
        ):
            raise
    log.warning("no org snapshot to start with: pulling one first", extra={"file": str(own)})
    await pull_first_snapshot(own)
    return await opened()


async def pull_first_snapshot(target: Path) -> None:
    try:
        api, region = genesys_api(os.environ)
    except ValueError as error:  # settings that make no client
        raise SystemExit(
            f"decision: no org snapshot yet, and none can be pulled: {error}"
        ) from None
    try:
        document = await pull(api, region)
    except GenesysError as error:
        raise SystemExit(
            f"decision: no org snapshot yet, and the first pull failed: {error}"
        ) from None
    finally:
        await api.close()
    try:
        await asyncio.to_thread(write_snapshot, document, target)
    except OSError as error:
        raise SystemExit(
            f"decision: cannot write the org snapshot {target}: {error.strerror}"
        ) from None
    except SnapshotError as error:
        raise SystemExit(f"decision: {error}") from None


async def serve(settings: DecisionSettings) -> None:
    """Serves until SIGTERM/SIGINT, then lets in-flight calls finish within the grace period."""
    if settings.max_concurrent_calls < 1 or settings.call_backlog < 1:
        raise SystemExit("decision: --max-concurrent-calls and --call-backlog must be at least 1")
    if settings.max_connections < 0:
        raise SystemExit("decision: --max-connections must be 0 (from the limit) or more")
    try:
        max_age = parse_duration(settings.max_connection_age) if settings.max_connection_age else 0
    except ValueError as error:
        raise SystemExit(f"decision: --max-connection-age: {error}") from None
    try:
        tracing = Tracing.from_environment(SERVICE_NAME)
    except TracingSettingsError as error:
        raise SystemExit(f"decision: {error}") from None
    # Refuses to start on a bad file: there is no old one to keep.
    rules = await open_rules(settings)
    access_log = AccessLog("decision", trace_ids=tracing.enabled) if settings.access_log else None
    # Every background component, in the order they start (and stop in reverse). A new one (a
    # Genesys poller) is one line here; one that provides outside facts is a provider too.
    components = Components()
    components.add(rules)
    contacts = None
    if settings.contacts:
        contacts = ContactProvider(settings.contacts, settings.contacts_timeout_ms / 1000)
        components.add(contacts)
    decision_log = open_decision_log(settings) if settings.decision_log else None
    if decision_log is not None:
        components.add(decision_log)
    if settings.metrics_listen:
        components.add(MetricsEndpoint(settings.metrics_listen))
    if settings.genesys_refresh:
        components.add(
            SnapshotRefresher(
                rules, parse_duration(settings.genesys_refresh), lambda: genesys_api(os.environ)
            )
        )
    watch_snapshot_age(rules)
    live = None
    if settings.genesys_live:
        live = LivePoller(
            rules,
            settings.genesys_poll_interval,
            lambda: genesys_api(os.environ),
            stale_after=settings.genesys_stale_after,
            budget=settings.genesys_live_budget,
        )
        components.add(live)
    if access_log is not None:
        components.add(AtExit("access log", access_log.flush))
    if tracing.enabled:
        components.add(AtExit("tracing", tracing.shutdown))

    servicer = DecisionServicer(
        rules,
        full_numbers=settings.log_full_numbers,
        access_log=access_log,
        providers=[p for p in (contacts, live) if p is not None],
        decision_log=decision_log,
        tracing=tracing,
    )
    reserved = settings.facade_max_connections if settings.facade_listen else 0
    capacity = Capacity(
        calls=settings.max_concurrent_calls,
        backlog=settings.call_backlog,
        connections=settings.max_connections or connections_allowed(reserved=reserved),
        max_age_ms=round(max_age * 1000),
    )
    listeners = Listeners(
        servicer,
        capacity,
        settings.listen,
        settings.facade_listen,
        settings.facade_max_connections,
    )
    log.info(
        "capacity: at most %d connections, %d streams each, %d calls (and %d health watches, "
        "%d reflection streams, %d console call(s) at a time), requests of %d bytes%s",
        capacity.connections,
        capacity.streams_per_connection,
        capacity.calls,
        capacity.watch_streams,
        capacity.reflection_streams,
        servicer.console.limit,
        MAX_REQUEST_BYTES,
        f"; the same again for the facades' listener, with {settings.facade_max_connections} "
        "connections"
        if settings.facade_listen
        else "",
    )
    credentials = server_credentials(settings)
    listeners.bind(credentials)
    await components.start(listeners)
    await listeners.start()
    # Tests and `make run` read this line to learn the port when asked for port 0.
    print(
        f"decision: serving on {listeners.main.bound} rules {rules.current.version}"
        f"{' tls' if credentials else ''} loop {running_loop_name()}"
        + (f" facades on {listeners.facades.bound}" if listeners.facades else ""),
        flush=True,
    )
    with logs_written_in_background():  # a stderr nobody reads never holds a call
        await wait_for_exit_signal(on_reload=components.on_reload_signal)
        log.info("stopping: finishing in-flight calls", extra={"grace_seconds": settings.grace})
        await listeners.stop(settings.grace)
        await components.stop()
