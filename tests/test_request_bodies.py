"""No route but the webhook's buffers a body (issue 24, round two, the adversary's F11 and F5):
a Tornado handler that does not stream read a body whole, up to the server's 1 MiB read cap,
before the handler (and any refusal) ran, so 800 key-less bodies to `/nope` took the facade
from 89 to 900 MB, and a body trickled to `/healthz` held its slot for the body timeout. Now
a declared body is refused at the head and never read; the console checks its key first.
What the facade reads is counted at the stream (IOStream.read_from_fd), not measured as RSS."""

from __future__ import annotations

import socket
import threading
from collections import defaultdict

import pytest
from tornado import iostream

from tests.conftest import SEED, Webhook, wait_until
from tests.test_connection_limits import closed_by_server, held, silent_connections

ADMIN_KEY = "console-key-222222"
DECLARED = 1_000_000
READ_AT_MOST = 64 * 1024  # a head and the chunk read with it


@pytest.fixture
def bytes_read(monkeypatch) -> dict[int, int]:
    """Bytes each server-side stream has read from its socket, by the stream's id."""
    counts: dict[int, int] = defaultdict(int)
    original = iostream.IOStream.read_from_fd

    def counting(stream: iostream.IOStream, buf):  # type: ignore[no-untyped-def]
        got = original(stream, buf)
        counts[id(stream)] += got or 0
        return got

    monkeypatch.setattr(iostream.IOStream, "read_from_fd", counting)
    return counts


def send_body(port: int, head: bytes, body_size: int) -> tuple[bytes, bool]:
    """Sends `head`, then as much of a `body_size` body as the server takes; returns what it
    answered and whether it closed the connection. The answer is read first, by a thread,
    while the body is sent: a server that answers at the head has its answer read before the
    reset its close causes can discard it."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    answer = bytearray()
    closed = threading.Event()

    def read() -> None:
        try:
            while chunk := connection.recv(65536):
                answer.extend(chunk)
                if b"\r\n\r\n" in answer:
                    break
            while connection.recv(65536):
                pass
            closed.set()
        except OSError:
            closed.set()

    reader = threading.Thread(target=read)
    with connection:
        connection.sendall(head)
        reader.start()
        try:
            sent = 0
            while sent < body_size:
                sent += connection.send(b"x" * min(65536, body_size - sent))
        except OSError:
            pass
        reader.join()
    return bytes(answer), closed.is_set()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/nope", 404),
        ("GET", "/healthz", 413),
        ("POST", "/healthz", 405),
        ("GET", "/metrics", 413),
        ("GET", "/readyz", 413),
        ("GET", "/openapi.json", 413),
        ("PUT", "/trueengage/callback/x", 404),
    ],
)
def test_a_body_to_another_path_is_refused_at_its_head_and_never_read(
    scripted, facade_in_process, bytes_read, method, path, status
):
    facade = facade_in_process(f"127.0.0.1:{scripted.port}")
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {DECLARED}\r\n\r\n".encode()
    answer, closed = send_body(facade.port, head, DECLARED)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"\r\nConnection: close\r\n" in answer
    assert closed
    wait_until(lambda: held(facade) == 0, "released")
    assert sum(bytes_read.values()) <= READ_AT_MOST


def test_a_slow_body_to_another_path_is_refused_at_its_head(scripted, facade_in_process):
    """`POST /healthz`, 60,000 bytes declared and a byte sent, no key: it held its slot for the
    whole body timeout, unevictable, so at the cap valid webhooks were closed unanswered."""
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}", max_connections=2, max_connections_per_address=2
    )
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\nx"
    with silent_connections(facade.port, 2, ("127.0.0.2", "127.0.0.3")) as trickling:
        for connection in trickling:
            connection.sendall(head)
        for connection in trickling:
            assert connection.recv(65536).startswith(b"HTTP/1.1 413 ")
            assert closed_by_server(connection)
    assert Webhook(facade.port).post(SEED).status == 200


@pytest.fixture
def console(scripted, facade_in_process):
    return facade_in_process(
        f"127.0.0.1:{scripted.port}", admin_listen="127.0.0.1:0", admin_keys=(ADMIN_KEY,)
    )


def admin_held(facade) -> int:
    return facade.server.admin.connections_held


@pytest.mark.parametrize(
    ("method", "path", "key", "status"),
    [
        ("POST", "/api/try", "", 401),
        ("POST", "/api/try", "wrong-key-0000000000", 401),
        ("POST", "/api/try", ADMIN_KEY, 413),
        ("GET", "/api/rules", ADMIN_KEY, 413),
        ("POST", "/api/rules", ADMIN_KEY, 405),
        ("GET", "/api/session", "", 401),
        ("POST", "/nope", "", 404),
        ("POST", "/", "", 413),
        ("GET", "/static/console.js", "", 413),
    ],
)
def test_the_console_reads_no_body_before_its_key_and_none_past_its_limit(
    console, bytes_read, method, path, key, status
):
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
        f"Content-Length: {DECLARED}\r\n\r\n"
    ).encode()
    answer, closed = send_body(console.admin_port, head, DECLARED)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"\r\nConnection: close\r\n" in answer
    assert closed
    wait_until(lambda: admin_held(console) == 0, "released")
    assert sum(bytes_read.values()) <= READ_AT_MOST


def test_the_console_still_takes_a_try_and_a_sign_in_form(console):
    """The body of a try is read once the key is known (this decision service has no Explain:
    a well-formed try reaches it, a malformed one is refused naming its field)."""
    console_api = Webhook(console.admin_port)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    sent = console_api.request("POST", "/api/try", b'{"phoneNumber": "07400123456"}', headers)
    assert (sent.status, sent.body["error"]) == (
        502,
        "decision service: unimplemented: Method not implemented!",
    )
    malformed = console_api.request(
        "POST", "/api/try", b'{"countryCode": "+44", "phoneNumber": ', headers
    )
    assert malformed.status == 400, malformed.body
    form = console_api.request(
        "POST", "/", b"key=whatever", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status == 303
