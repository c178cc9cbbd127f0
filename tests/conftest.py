"""Fixtures that start the real services, in this process or as processes on loopback ports,
and a small webhook client."""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from facade.config import FacadeSettings
from plumbing.logs import JsonFormatter
from plumbing.service_process import ServiceProcess
from tests.in_process import EventLoopThread, InProcessDecision, InProcessFacade
from tests.scripted_decision import ScriptedServer

# A real PostgreSQL server for the directory tests (`postgres`, `postgres_url`).
pytest_plugins = ["tests.postgres"]

EXAMPLE_RULES = Path(__file__).resolve().parent.parent / "examples" / "rules.toml"
API_KEY = "test-key-0123456789"
SECOND_KEY = "second-key-abcdef"
# TrueEngage's documented example payload with a UK mobile number (examples/webhook.json).
SEED = json.loads(
    (Path(__file__).resolve().parent.parent / "examples" / "webhook.json").read_text()
)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: Any


class Webhook:
    """Talks to a running facade the way TrueEngage does."""

    def __init__(self, port: int, key: str = API_KEY) -> None:
        self.port = port
        self.key = key

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        parsed = json.loads(raw) if raw else None
        return Reply(response.status, response.headers, parsed)

    def post(self, payload: Any, key: str | None = None, **headers: str) -> Reply:
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        sent = {"Content-Type": "application/json", **headers}
        if key is not False:
            sent["X-API-Key"] = key or self.key
        return self.request("POST", "/trueengage/callback", body, sent)


def counted(name: str, **labels: str) -> float:
    """A metric of this process (in-process services count here), 0 before its first count."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_until(condition: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Polls `condition` until it holds; the deadline only bounds a failing test."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.01)


def start_decision(
    rules: Path | str,
    *extra: str,
    port: int = 0,
    stderr: Any = None,
    env: dict[str, str] | None = None,
) -> ServiceProcess:
    """`python -m decision serve` on a loopback port, with `extra` flags and `env` variables
    (where a directory's password goes)."""
    return ServiceProcess(
        "decision",
        ["serve", "--listen", f"127.0.0.1:{port}", "--rules", str(rules), "--grace", "2", *extra],
        env=env,
        stderr=stderr,
    )


def contacts_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m decision contacts ...` as an operator runs it, with `env` variables added
    (DECISION_CONTACTS: a directory URL with its password)."""
    return subprocess.run(
        [sys.executable, "-m", "decision", "contacts", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start_facade(
    decision_target: str,
    deadline_ms: int = 300,
    *extra: str,
    env: dict[str, str] | None = None,
    stderr: Any = None,
    launcher: tuple[str, ...] = (),
) -> ServiceProcess:
    args = ["serve", "--listen", "127.0.0.1:0", "--decision", decision_target]
    args += ["--deadline-ms", str(deadline_ms), "--grace", "2", "--drain-seconds", "0", *extra]
    keys = {"FACADE_API_KEYS": f"{API_KEY},{SECOND_KEY}"}
    return ServiceProcess(
        "facade", args, env={**keys, **(env or {})}, stderr=stderr, launcher=launcher
    )


def facade_settings(decision_target: str, **overrides: Any) -> FacadeSettings:
    """What start_facade passes on the command line, for a facade in this process."""
    settings = FacadeSettings(
        listen="127.0.0.1:0",
        decision=decision_target,
        deadline_ms=300,
        grace=2.0,
        drain_seconds=0.0,
        api_keys=(API_KEY, SECOND_KEY),
    )
    return replace(settings, **overrides)


@pytest.fixture(scope="session")
def services() -> Iterator[EventLoopThread]:
    """The event loop that runs every in-process service."""
    loop = EventLoopThread()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def decision_service() -> Iterator[ServiceProcess]:
    service = start_decision(EXAMPLE_RULES)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def decision_in_process(services: EventLoopThread) -> Iterator[InProcessDecision]:
    decision = InProcessDecision(services, EXAMPLE_RULES)
    yield decision
    decision.stop()


@pytest.fixture
def facade_in_process(services: EventLoopThread) -> Iterator[Callable[..., InProcessFacade]]:
    """Starts in-process facades (`facade_in_process(target, access_log=..., clock=...,
    **settings)`) and stops them when the test ends."""
    started: list[InProcessFacade] = []

    def start(
        decision_target: str,
        access_log: Any = None,
        limiter: Any = None,
        clock: Callable[[], float] = time.monotonic,
        **overrides: Any,
    ):
        settings = facade_settings(decision_target, **overrides)
        facade = InProcessFacade(services, settings, access_log, limiter, clock)
        started.append(facade)
        return facade

    yield start
    for facade in started:
        facade.stop()


@pytest.fixture(scope="module")
def webhook(services: EventLoopThread, decision_in_process: InProcessDecision) -> Iterator[Webhook]:
    """The facade, in process, in front of the real decision service with the example rules."""
    facade = InProcessFacade(services, facade_settings(f"127.0.0.1:{decision_in_process.port}"))
    yield Webhook(facade.port)
    facade.stop()


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    yield server
    server.stop()


@contextmanager
def background_load(webhook: Webhook, threads: int = 4) -> Iterator[list[Reply]]:
    """TrueEngage at full tilt: `threads` senders posting SEED until the block ends; yields the
    replies as they come."""
    replies: list[Reply] = []
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            replies.append(webhook.post(SEED))

    senders = [threading.Thread(target=send) for _ in range(threads)]
    for sender in senders:
        sender.start()
    try:
        yield replies
    finally:
        stop.set()
        for sender in senders:
            sender.join()


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Everything the facade would write on stderr at its default level (INFO): its access log
    (when the test hands it this stream) and its log records, as JSON lines in one stream."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("facade"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.setLevel(level)
    root.removeHandler(handler)


def exchange(port: int, raw: bytes, host: str = "127.0.0.1", timeout: float = 10.0) -> bytes:
    """Sends `raw` bytes on a new connection and returns everything the server sends back until
    it closes the connection (or has been silent for `timeout` seconds, which fails a test that
    expected an answer)."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.sendall(raw)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        except ConnectionResetError:
            pass
    return received


def refused_start(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m <module> serve` with only `env` (and a key): for settings that stop the start."""
    args = ["serve", "--listen", "127.0.0.1:0"]
    args += ["--decision", "127.0.0.1:1"] if module == "facade" else ["--rules", str(EXAMPLE_RULES)]
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "FACADE_API_KEYS": API_KEY, **env},
    )
