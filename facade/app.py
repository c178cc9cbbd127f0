"""Builds the facade's Tornado application and runs its HTTP server."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import tornado.httpserver
import tornado.netutil
import tornado.web

from decision.client import DecisionClient
from decision.graceful import wait_for_exit_signal
from facade.auth import ApiKeys
from facade.decider import FailOpenDecider
from facade.handlers import CallbackHandler, LiveHandler, NotFoundHandler, ReadyHandler

log = logging.getLogger("facade")
CALLBACK_PATH = "/trueengage/callback"


@dataclass(frozen=True)
class FacadeSettings:
    listen: str = "0.0.0.0:8080"
    decision: str = "127.0.0.1:50051"
    deadline: float = 0.5
    max_body: int = 64 * 1024
    api_key_header: str = "X-API-Key"
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # never in a log line
    max_header: int = 16 * 1024
    body_timeout: float = 10.0
    idle_timeout: float = 60.0
    grace_seconds: float = 5.0


def make_app(decider: FailOpenDecider, keys: ApiKeys, max_body: int) -> tornado.web.Application:
    """The facade's routes around its collaborators, so tests can build one on a test port."""
    return tornado.web.Application(
        [
            (
                CALLBACK_PATH,
                CallbackHandler,
                {"keys": keys, "decider": decider, "max_body": max_body},
            ),
            ("/healthz", LiveHandler),
            ("/readyz", ReadyHandler, {"decider": decider}),
        ],
        default_handler_class=NotFoundHandler,
    )


async def serve(settings: FacadeSettings) -> None:
    """Serves until SIGTERM/SIGINT, then stops accepting and lets in-flight requests finish."""
    keys = ApiKeys(settings.api_keys, settings.api_key_header)
    client = DecisionClient(settings.decision, timeout=settings.deadline)
    decider = FailOpenDecider(client, settings.deadline)
    server = tornado.httpserver.HTTPServer(
        make_app(decider, keys, settings.max_body),
        # The handler answers 413 itself up to this hard cap; beyond it Tornado cuts the
        # connection without reading more (its own default would buffer 100 MB).
        max_body_size=max(settings.max_body * 4, 1024 * 1024),
        max_header_size=settings.max_header,
        body_timeout=settings.body_timeout,
        idle_connection_timeout=settings.idle_timeout,
        xheaders=False,
    )
    host, _, port = settings.listen.rpartition(":")
    sockets = tornado.netutil.bind_sockets(int(port), host or None)
    server.add_sockets(sockets)
    bound = sockets[0].getsockname()[1]
    print(
        f"facade: serving on http://{host}:{bound}{CALLBACK_PATH} decision {settings.decision}",
        flush=True,
    )

    await wait_for_exit_signal()
    server.stop()  # stop accepting; requests already read go on
    if not await decider.drained(settings.grace_seconds):
        log.warning("stopping with %d decisions still in flight", decider.in_flight)
    await server.close_all_connections()
    await client.close()
