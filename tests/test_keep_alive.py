"""Refusals keep HTTP/1.1 honest: after a 401, 403, 413, 415 or 429 the client's next request on
the same keep-alive connection is answered. A refused body within the limit is read and dropped
so the connection stays usable; one that cannot be is answered with `Connection: close`."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

from facade.rate_limit import RateLimiter
from tests.conftest import API_KEY, SEED

VALID = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
BODY = json.dumps(SEED)


class FrozenClock:
    def __call__(self) -> float:
        return 1000.0


@pytest.fixture
def facade(scripted, facade_in_process):
    """A facade whose rate limiter refuses the second wrong key of an address (429)."""
    limiter = RateLimiter(1.0, 1, clock=FrozenClock())
    return facade_in_process(f"127.0.0.1:{scripted.port}", limiter=limiter)


def send(connection: http.client.HTTPConnection, headers: dict, body: object = BODY):
    connection.request("POST", "/trueengage/callback", body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    return response


REFUSED = {
    401: {**VALID, "X-API-Key": "wrong-key-0123456789"},
    415: {**VALID, "Content-Type": "text/plain"},
}


@pytest.mark.parametrize("status", [401, 429, 415])
@pytest.mark.parametrize("body", [BODY, None], ids=["with a body", "without a body"])
def test_after_a_refusal_the_same_connection_serves_the_next_request(facade, status, body):
    connection = http.client.HTTPConnection("127.0.0.1", facade.port, timeout=10)
    try:
        if status == 429:  # the address's one failed authentication is spent first
            assert send(connection, REFUSED[401], body).status == 401
        refused = send(connection, REFUSED.get(status, REFUSED[401]), body)
        assert refused.status == status
        assert refused.getheader("Connection") is None  # kept open, and it is
        kept = connection.sock
        assert send(connection, VALID).status == 200
        assert connection.sock is kept
    finally:
        connection.close()


def chunks(size: int):
    yield from (b"x" * 8192 for _ in range(size // 8192))


@pytest.mark.parametrize(
    ("headers", "status"), [(REFUSED[401], 401), (VALID, 413)], ids=["refused", "too large"]
)
def test_a_chunked_body_past_the_limit_is_drained_not_cut_off(facade, headers, status):
    """Closing while the client still sends would make its kernel reset the connection, and the
    answer would be lost with it (the refused case failed every run before)."""
    connection = http.client.HTTPConnection("127.0.0.1", facade.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/trueengage/callback",
            body=chunks(200 * 1024),
            headers={**headers, "Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        refused = connection.getresponse()
        refused.read()
        assert refused.status == status
        assert refused.getheader("Connection") is None
        kept = connection.sock
        assert send(connection, VALID).status == 200
        assert connection.sock is kept
    finally:
        connection.close()


def test_the_address_refusal_keeps_the_connection_too(scripted, facade_in_process):
    facade = facade_in_process(f"127.0.0.1:{scripted.port}", allow_cidrs=("203.0.113.0/24",))
    connection = http.client.HTTPConnection("127.0.0.1", facade.port, timeout=10)
    try:
        assert send(connection, VALID).status == 403
        kept = connection.sock
        assert send(connection, VALID).status == 403
        assert connection.sock is kept
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        # Declared larger than the limit: not worth reading.
        ({**VALID, "Content-Length": "70000"}, b"x" * 70_000, 413),
        ({**REFUSED[401], "Content-Length": "70000"}, b"x" * 70_000, 401),
        # Waiting for "100 Continue": told at once instead.
        ({**REFUSED[415], "Expect": "100-continue"}, None, 415),
    ],
    ids=["declared too large", "refused and declared too large", "expect"],
)
def test_a_refusal_answered_before_the_body_says_connection_close(facade, headers, body, status):
    connection = http.client.HTTPConnection("127.0.0.1", facade.port, timeout=10)
    try:
        if "Expect" in headers:
            # http.client does not wait for 100 Continue: send the head alone, as curl would.
            connection.putrequest("POST", "/trueengage/callback")
            for name, value in {**headers, "Content-Length": str(len(BODY))}.items():
                connection.putheader(name, value)
            connection.endheaders()
            refused = connection.getresponse()
            refused.read()
        else:
            chunked = "Transfer-Encoding" in headers
            connection.request(
                "POST", "/trueengage/callback", body=body, headers=headers, encode_chunked=chunked
            )
            refused = connection.getresponse()
            refused.read()
        assert refused.status == status
        assert refused.getheader("Connection") == "close"
        # Told so, the client opens a new connection for its next request.
        assert send(connection, VALID).status == 200
    finally:
        connection.close()


def test_a_flood_of_refusals_among_valid_requests_loses_no_request(scripted, facade_in_process):
    """TrueEngage and a misconfigured sender sharing keep-alive connections: every request gets
    an answer (the assertion counts the failures)."""
    facade = facade_in_process(f"127.0.0.1:{scripted.port}", auth_failure_rate=0)
    failures: list[str] = []

    def sender() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", facade.port, timeout=10)
        try:
            for n in range(50):
                headers = REFUSED[(401, 415)[n % 4 == 1]] if n % 2 else VALID
                try:
                    send(connection, headers)
                except (http.client.HTTPException, OSError) as error:
                    failures.append(repr(error))
                    connection.close()
        finally:
            connection.close()

    senders = [threading.Thread(target=sender) for _ in range(8)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    assert len(failures) == 0, f"{len(failures)} of 400 requests failed: {failures[:3]}"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
def test_a_wrong_method_on_the_webhook_says_connection_close(facade, method):
    connection = http.client.HTTPConnection("127.0.0.1", facade.port, timeout=10)
    try:
        connection.request(method, "/trueengage/callback", body=BODY, headers=VALID)
        refused = connection.getresponse()
        refused.read()
        assert refused.status == 405
        assert refused.getheader("Allow") == "POST"
        assert refused.getheader("Connection") == "close"  # the client opens a new one
        assert send(connection, VALID).status == 200
    finally:
        connection.close()
