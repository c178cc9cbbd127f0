"""Fixtures that start the real services on loopback ports, and a small webhook client."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from facade.devstack import ServiceProcess

EXAMPLE_RULES = Path(__file__).resolve().parent.parent / "examples" / "rules.toml"
API_KEY = "test-key-0123456789"
# What TrueEngage sends, for a UK mobile visitor.
# TrueEngage's documented example payload with a UK mobile number (examples/webhook.json).
SEED = json.loads(
    (Path(__file__).resolve().parent.parent / "examples" / "webhook.json").read_text()
)


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: Any
    seconds: float = 0.0


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
        import time

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            started = time.monotonic()
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            raw = response.read()
            seconds = time.monotonic() - started
        finally:
            connection.close()
        parsed = json.loads(raw) if raw else None
        return Reply(response.status, response.headers, parsed, seconds)

    def post(self, payload: Any, key: str | None = None, **headers: str) -> Reply:
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        sent = {"Content-Type": "application/json", **headers}
        if key is not False:
            sent["X-API-Key"] = key or self.key
        return self.request("POST", "/trueengage/callback", body, sent)


def start_decision(rules: Path | str, port: int = 0) -> ServiceProcess:
    return ServiceProcess(
        "decision",
        ["serve", "--listen", f"127.0.0.1:{port}", "--rules", str(rules), "--grace", "2"],
    )


def start_facade(
    decision_target: str,
    deadline_ms: int = 300,
    *extra: str,
    env: dict[str, str] | None = None,
    stderr: Any = None,
) -> ServiceProcess:
    args = ["serve", "--listen", "127.0.0.1:0", "--decision", decision_target]
    args += ["--deadline-ms", str(deadline_ms), "--grace", "2", *extra]
    keys = {"FACADE_API_KEYS": f"{API_KEY},second-key-abcdef"}
    return ServiceProcess("facade", args, env={**keys, **(env or {})}, stderr=stderr)


@pytest.fixture(scope="module")
def decision_service() -> Iterator[ServiceProcess]:
    service = start_decision(EXAMPLE_RULES)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def facade_service(decision_service: ServiceProcess) -> Iterator[ServiceProcess]:
    service = start_facade(f"127.0.0.1:{decision_service.port}")
    yield service
    service.stop()


@pytest.fixture(scope="module")
def webhook(facade_service: ServiceProcess) -> Webhook:
    return Webhook(facade_service.port)


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
