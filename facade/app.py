"""Builds the facade's Tornado application and runs its HTTP server(s)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import grpc
import tornado.httpserver
import tornado.netutil
import tornado.web

from contract.client import DecisionClient
from facade.admin import make_admin_app
from facade.auth import ApiKeys, keys_from_text
from facade.config import FacadeSettings
from facade.connection_limits import (
    AddressKeys,
    connection_budget,
    current_open_files_limit,
    log_budget,
    raise_open_files_limit,
)
from facade.decider import FailOpenDecider
from facade.decision_health import DecisionHealth
from facade.drain import CloseWhileDraining, Drain
from facade.handlers import (
    CallbackHandler,
    DecisionHealthHandler,
    LiveHandler,
    MetricsHandler,
    NotFoundHandler,
    OpenApiHandler,
    ReadyHandler,
)
from facade.http_server import FacadeHTTPServer
from facade.network import ClientPolicy
from facade.rate_limit import RateLimiter
from facade.request_logs import path_only, withhold_values_in_tornado_logs
from plumbing import event_loop
from plumbing.files import read_regular_file
from plumbing.graceful import hold_exit_signals, wait_for_exit_signal
from plumbing.logs import AccessLog, logs_written_in_background, mask_number
from plumbing.tracing import Tracing, TracingSettingsError

log = logging.getLogger("facade")
CALLBACK_PATH = "/trueengage/callback"
FACADE_SERVICE_NAME = "callback-router-facade"
KEYS_FILE_MAX = 64 * 1024  # bytes of a keys file: a thousand keys
READ_CHUNK = 16 * 1024


def make_access_logger(
    full_numbers: bool, access_log: AccessLog | None, logger: str = "facade.access"
) -> Callable[[tornado.web.RequestHandler], None]:
    """One JSON line per request; the phone number masked unless the operator allows it. The
    path is logged, never the query string (nothing there is ours to log)."""

    def log_request(handler: tornado.web.RequestHandler) -> None:
        if access_log is None:
            return
        fields = {
            "request_id": getattr(handler, "request_id", None),
            "method": handler.request.method,
            "path": path_only(handler.request.path),
            "status": handler.get_status(),
            "ms": round(handler.request.request_time() * 1000, 2),
            # The caller's address (behind trusted proxies, the one they name); not `client`,
            # which on the console's handlers is the decision service's client.
            "client": getattr(handler, "caller", handler.request.remote_ip),
        }
        if isinstance(handler, CallbackHandler) and (outcome := handler.outcome) is not None:
            fields.update(
                phone=mask_number(handler.phone, full_numbers),
                decision_id=outcome.decision_id,
                matched_rules=outcome.matched_rules,
                rules_version=outcome.rules_version,
                fail_open=outcome.fail_open or None,
            )
        access_log.write(logger, "request", fields)

    return log_request


def make_app(
    settings: FacadeSettings,
    keys: ApiKeys,
    policy: ClientPolicy,
    limiter: RateLimiter,
    decider: FailOpenDecider,
    decision_serving: Callable[[], bool],
    drain: Drain,
    access_log: AccessLog | None = None,
) -> tornado.web.Application:
    """The facade's routes around its collaborators, so tests can build one on a test port."""
    callback = {
        "keys": keys,
        "policy": policy,
        "limiter": limiter,
        "decider": decider,
        "max_body": settings.max_body,
        "tracing": decider.tracing,
    }
    return tornado.web.Application(
        [
            (CALLBACK_PATH, CallbackHandler, callback),
            ("/healthz", LiveHandler),
            ("/readyz", ReadyHandler, {"drain": drain}),
            ("/healthz/decision", DecisionHealthHandler, {"decision_serving": decision_serving}),
            ("/metrics", MetricsHandler, _metrics_handler_args()),
            ("/openapi.json", OpenApiHandler),
        ],
        # Tornado types transforms as classes but only calls each with the request.
        transforms=[functools.partial(CloseWhileDraining, drain)],  # type: ignore[list-item]
        default_handler_class=NotFoundHandler,
        log_function=make_access_logger(settings.log_full_numbers, access_log),
    )


def _metrics_handler_args() -> dict:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return {}
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return {"registry": registry}


def load_keys(settings: FacadeSettings) -> list[str]:
    """The webhook's keys: the setting's and the keys file's."""
    return _keys(settings.api_keys, settings.api_keys_file)


def load_admin_keys(settings: FacadeSettings) -> list[str]:
    """The console's keys: the setting's and the admin keys file's."""
    return _keys(settings.admin_keys, settings.admin_keys_file)


def _keys(given: Sequence[str], keys_file: str) -> list[str]:
    keys = list(given)
    if keys_file:
        keys += read_keys_file(keys_file)
    return keys


def read_keys_file(path: str) -> list[str]:
    """The keys in a keys file, read as someone else may have put it in place: never a FIFO or
    a device (a FIFO there hung the facade's loop on SIGHUP, /dev/zero would fill its memory),
    never more than KEYS_FILE_MAX bytes. Warns, naming the key's line, never the key, about a
    key no header can carry (a stray control byte, a character outside ASCII)."""
    data = read_regular_file(path, KEYS_FILE_MAX)
    if len(data) > KEYS_FILE_MAX:
        raise ValueError(f"{path}: larger than {KEYS_FILE_MAX // 1024} KiB")
    keys = keys_from_text(data.decode("utf-8"))
    for number, key in enumerate(keys, 1):
        if not (key.isascii() and key.isprintable()):
            log.warning(
                "%s: key %d of the file has characters no header can carry (not printable "
                "ASCII): it will never match; check how the file was saved",
                path,
                number,
            )
    return keys


def decision_credentials(settings: FacadeSettings) -> grpc.ChannelCredentials | None:
    """TLS (with --decision-tls-ca) or mTLS (plus a client certificate) to the decision service."""
    if not settings.decision_tls_ca:
        return None

    def read(path: str) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(
        root_certificates=read(settings.decision_tls_ca),
        private_key=read(settings.decision_tls_key),
        certificate_chain=read(settings.decision_tls_cert),
    )


def tls_context(settings: FacadeSettings) -> ssl.SSLContext | None:
    if not settings.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert, settings.tls_key or None)
    return context


def make_http_server(
    app: tornado.web.Application,
    settings: FacadeSettings,
    listener: str,
    max_connections: int,
    max_per_address: int,
    clock: Callable[[], float] = time.monotonic,
) -> FacadeHTTPServer:
    return FacadeHTTPServer(
        app,
        ssl_options=tls_context(settings),
        # The handler answers 413 itself up to this hard cap; beyond it Tornado cuts the
        # connection without reading more (its own default would buffer 100 MB).
        max_body_size=max(settings.max_body * 4, 1024 * 1024),
        max_header_size=settings.max_header,
        # What one read from a client takes (Tornado's default is 64 KiB): the most a
        # connection's buffer holds beyond what it is reading is one such chunk.
        chunk_size=READ_CHUNK,
        body_timeout=settings.body_timeout,
        idle_connection_timeout=settings.idle_timeout,
        listener=listener,
        max_connections=max_connections,
        max_per_address=max_per_address,
        address_keys=AddressKeys(settings.trusted_proxies),
        head_timeout=settings.head_timeout,
        clock=clock,
    )


class FacadeServer:
    """One facade as `serve` runs it: the collaborators built from the settings, the app, and
    its HTTP server (not yet listening: `http.add_sockets`). Built inside the event loop, which
    the decision client's channel belongs to. Tests start one in process the same way."""

    def __init__(
        self,
        settings: FacadeSettings,
        access_log: AccessLog | None = None,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
        tracing: Tracing | None = None,
    ) -> None:
        """`clock`: monotonic seconds, in which requests' arrivals and deadlines are counted;
        `tracing`: the facade's (off by default)."""
        self.settings = settings
        self.tracing = tracing or Tracing.off()
        withhold_values_in_tornado_logs()
        self.keys = ApiKeys(load_keys(settings), settings.api_key_header)
        self.client = DecisionClient(
            settings.decision,
            timeout=settings.deadline,
            credentials=decision_credentials(settings),
            server_name=settings.decision_tls_server_name or None,
        )
        self.decider = FailOpenDecider(
            self.client,
            settings.deadline,
            settings.max_in_flight,
            timedelta(days=settings.schedule_horizon_days),
            clock,
            self.tracing,
        )
        self.decision_health = DecisionHealth(self.client)
        self.access_log = access_log
        self.drain = Drain()
        self.app = make_app(
            settings,
            self.keys,
            ClientPolicy(settings.allow_cidrs, settings.trusted_proxies),
            limiter or RateLimiter(settings.auth_failure_rate, settings.auth_failure_burst),
            self.decider,
            lambda: self.decision_health.serving,
            self.drain,
            access_log,
        )
        self.budget = connection_budget(settings, current_open_files_limit())
        self.http = make_http_server(
            self.app,
            settings,
            "webhook",
            self.budget.webhook,
            self.budget.webhook_per_address,
            clock,
        )
        self.admin: FacadeHTTPServer | None = None
        self.admin_keys: ApiKeys | None = None
        if settings.admin_listen:
            self.admin_keys = ApiKeys(load_admin_keys(settings))
            console = make_admin_app(
                self.admin_keys,
                RateLimiter(settings.auth_failure_rate, settings.auth_failure_burst),
                self.client,
                self.decider.horizon,
                settings.max_body,
                make_access_logger(settings.log_full_numbers, access_log, "facade.admin.access"),
            )
            self.admin = make_http_server(
                console,
                settings,
                "console",
                self.budget.console,
                self.budget.console_per_address,
                clock,
            )
        self._reloads: set[asyncio.Task[None]] = set()
        self._reloading = asyncio.Lock()
        # Last, once nothing above can fail and leave the watch running unowned.
        self.decision_health.start()

    def reload_keys(self) -> asyncio.Task[None]:
        """Key rotation (SIGHUP), the webhook's and the console's: each new set replaces the
        old one whole, or neither does. The files are read on a worker thread (a file on a
        stalled disk must not stop the loop answering), one reload at a time."""
        task = asyncio.get_running_loop().create_task(self._reload_keys())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)
        return task

    async def _reload_keys(self) -> None:
        async with self._reloading:
            try:
                keys, admin_keys = await asyncio.to_thread(self._read_keys)
                self.keys.check(keys)
                if self.admin_keys is not None:
                    self.admin_keys.check(admin_keys)
                    self.admin_keys.replace(admin_keys)
                self.keys.replace(keys)
                log.info("API keys reloaded")
            except (OSError, UnicodeDecodeError, ValueError) as error:
                reason = getattr(error, "strerror", None) or str(error)
                if isinstance(error, OSError) and error.filename:
                    reason = f"{error.filename}: {reason}"
                log.error("API keys not reloaded, keeping the old ones: %s", reason)

    def _read_keys(self) -> tuple[list[str], list[str]]:
        keys = load_keys(self.settings)
        admin_keys = (
            load_admin_keys(self.settings)
            if self.admin_keys is not None
            else [*self.settings.admin_keys]  # no console: still never webhook keys
        )
        if {k.strip() for k in keys} & {k.strip() for k in admin_keys}:  # as at start
            raise ValueError("a console key must not also be a webhook key")
        return keys, admin_keys

    async def stop(self) -> None:
        """Stops without losing a request. At once: readiness off, and every answer says
        `Connection: close`. For `drain_seconds` requests go on being answered, on open
        connections and new ones alike (the load balancer learns of the stop late). Then: stop
        listening, close the connections that carry no request, give those that do `grace`
        seconds to be answered, close what is left."""
        self.drain.start()
        if self.admin is not None:
            self.admin.stop()
        await asyncio.sleep(self.settings.drain_seconds)
        self.http.stop()
        await self.http.close_idle_connections()
        if not await self.http.answered(self.settings.grace):
            log.warning(
                "stopping with %d requests unanswered (%d decisions in flight)",
                self.http.requests_in_progress,
                self.decider.in_flight,
            )
        await self.http.close_all_connections()
        if self.admin is not None:
            await self.admin.close_all_connections()
        await self.decision_health.stop()
        await self.client.close()
        if self.access_log is not None:
            self.access_log.flush()
        self.tracing.shutdown()


async def serve(
    settings: FacadeSettings,
    sockets: list[socket.socket],
    admin_sockets: Sequence[socket.socket] = (),
) -> None:
    """Serves until SIGTERM/SIGINT, then drains and stops (`FacadeServer.stop`)."""
    tracing = facade_tracing()
    access_log = AccessLog("facade", trace_ids=tracing.enabled) if settings.access_log else None
    facade = FacadeServer(settings, access_log, tracing=tracing)
    facade.http.add_sockets(sockets)
    if facade.admin is not None:
        facade.admin.add_sockets(admin_sockets)
    with logs_written_in_background():  # a stderr nobody reads never holds an answer
        await wait_for_exit_signal(on_reload=facade.reload_keys)
        await facade.stop()


def facade_tracing() -> Tracing:
    """As the OTEL_* variables say (plumbing/tracing.py); a bad value stops the start."""
    try:
        return Tracing.from_environment(FACADE_SERVICE_NAME)
    except TracingSettingsError as error:
        raise SystemExit(f"facade: {error}") from None


def _bind(listen: str) -> list[socket.socket]:
    host, _, port = listen.rpartition(":")
    try:
        return tornado.netutil.bind_sockets(int(port), host or None, backlog=1024)
    except (OSError, ValueError) as error:
        raise SystemExit(f"facade: cannot listen on {listen}: {error}") from None


def run(settings: FacadeSettings) -> int:
    """Binds the port once, then serves from one process or from `processes` forked workers
    sharing it; the parent forwards SIGTERM/SIGINT/SIGHUP and exits 0 when all workers did."""
    hold_exit_signals()
    facade_tracing().shutdown()  # a bad OTEL_* value stops the start here, before any fork
    try:
        loop = event_loop.chosen_loop()
    except event_loop.EventLoopChoiceError as error:
        raise SystemExit(f"facade: {error}") from None
    # Before the workers fork: each inherits the limit, and holds its own caps under it.
    log_budget(connection_budget(settings, raise_open_files_limit(settings)))
    sockets = _bind(settings.listen)
    admin_sockets = _bind(settings.admin_listen) if settings.admin_listen else []
    scheme = "https" if settings.tls_cert else "http"
    host = settings.listen.rpartition(":")[0]
    bound = sockets[0].getsockname()[1]
    print(
        f"facade: serving on {scheme}://{host}:{bound}{CALLBACK_PATH} "
        f"decision {settings.decision} processes {settings.processes} loop {loop}",
        flush=True,
    )
    if admin_sockets:
        admin_host = settings.admin_listen.rpartition(":")[0]
        print(
            f"facade: console on {scheme}://{admin_host}:{admin_sockets[0].getsockname()[1]}/",
            flush=True,
        )
    if settings.processes <= 1:
        event_loop.run(serve(settings, sockets, admin_sockets))
        return 0
    workers: list[int] = []
    for _ in range(settings.processes):
        pid = os.fork()
        if pid == 0:
            try:
                event_loop.run(serve(settings, sockets, admin_sockets))
                os._exit(0)
            except BaseException:
                log.exception("worker failed")
                os._exit(1)
        workers.append(pid)

    def forward(signum: int, frame: object) -> None:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    failed = 0
    for worker in workers:
        _, status = os.waitpid(worker, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    sys.stdout.flush()
    return 1 if failed else 0
