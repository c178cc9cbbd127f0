"""The facade answers `{}` (the callback unchanged) whatever the decision service does, and
never leaks TrueEngage's own data keys. The facade runs in process; the decision service is the
scripted one, or the real one stopped and started again."""

from __future__ import annotations

import re
import socket
from concurrent import futures

import grpc
import pytest

from contract.v1 import decision_pb2
from tests.conftest import API_KEY, EXAMPLE_RULES, SEED, Webhook, counted, wait_until
from tests.in_process import InProcessDecision

QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"


# Long enough that no answer the decision service gives can lose the race to the deadline.
GENEROUS_DEADLINE_MS = 10_000


@pytest.fixture
def scripted_webhook(scripted, facade_in_process):
    target = f"127.0.0.1:{scripted.port}"
    return Webhook(facade_in_process(target, deadline_ms=GENEROUS_DEADLINE_MS).port)


def test_protected_data_keys_never_reach_the_answer(scripted, scripted_webhook):
    scripted.servicer.patch = decision_pb2.CallbackPatch(
        queue_id=QUEUE, data={"visitorId": "x", "te_channel": "y", "segment": "gold"}
    )
    reply = scripted_webhook.post(SEED)
    assert reply.body == {"queueId": QUEUE, "data": {"segment": "gold"}}
    scripted.servicer.patch = decision_pb2.CallbackPatch(data={"visitorId": "x"})
    assert scripted_webhook.post(SEED).body == {}


def test_extra_fields_travel_as_attributes_with_the_request_id(scripted, scripted_webhook):
    scripted_webhook.post(
        {**SEED, "language": "de", "score": 7, "vip": True, "tags": ["a"], "nothing": None},
        **{"X-Request-Id": "req-1"},
    )
    request = scripted.servicer.requests[-1]
    assert request.phone_number == "07400123456"
    assert request.widget_id == "123"
    assert dict(request.attributes) == {
        "language": "de",
        "score": "7",
        "vip": "true",
        "tags": '["a"]',
    }
    assert request.request_id == "req-1"
    assert scripted.servicer.metadata[-1]["x-request-id"] == "req-1"


def test_a_decision_that_never_comes_fails_open_at_the_deadline(scripted, facade_in_process):
    # Held until the test ends: only the facade's deadline can answer this request.
    scripted.servicer.hold()
    webhook = Webhook(facade_in_process(f"127.0.0.1:{scripted.port}", deadline_ms=200).port)
    before = counted("facade_fail_open_total", reason="deadline_exceeded")
    reply = webhook.post(SEED)
    assert (reply.status, reply.body) == (200, {})
    assert "X-Decision-Id" not in reply.headers
    assert counted("facade_fail_open_total", reason="deadline_exceeded") == before + 1


@pytest.mark.parametrize(
    "status",
    [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED],
)
def test_decision_errors_fail_open(scripted, scripted_webhook, status):
    scripted.servicer.status = status
    before = counted("facade_fail_open_total", reason=status.name.lower())
    reply = scripted_webhook.post(SEED)
    assert (reply.status, reply.body) == (200, {})
    assert counted("facade_fail_open_total", reason=status.name.lower()) == before + 1


def test_decision_down_fails_open_and_recovers_after_restart(services, facade_in_process):
    decision = InProcessDecision(services, EXAMPLE_RULES)
    target = f"127.0.0.1:{decision.port}"
    webhook = Webhook(facade_in_process(target, deadline_ms=GENEROUS_DEADLINE_MS).port)
    try:
        assert webhook.post(SEED).body["queueId"] == QUEUE
        decision.stop()
        before = counted("facade_fail_open_total", reason="unavailable")
        for _ in range(3):
            reply = webhook.post(SEED)
            assert (reply.status, reply.body) == (200, {})
        assert counted("facade_fail_open_total", reason="unavailable") == before + 3
        # Still ready: it answers, and must stay in its load balancer (tests/test_readiness.py).
        assert webhook.request("GET", "/readyz").status == 200
        wait_until(lambda: webhook.request("GET", "/healthz/decision").status == 503, "outage seen")

        decision.start()  # the same port: the facade's channel reconnects by itself
        wait_until(lambda: webhook.post(SEED).body, "a decision after the restart")
        assert webhook.post(SEED).body["queueId"] == QUEUE
        assert webhook.request("GET", "/readyz").status == 200
        wait_until(lambda: webhook.request("GET", "/healthz/decision").status == 200, "back")
    finally:
        decision.stop()


@pytest.mark.parametrize(
    "garbage",
    [b"\x0a\x05\xff\xff\xff\xff\xff", b"\x2a\x02\xff\xfe", b"\x0a\x04\x12\x02\xff\xfe"],
    ids=["not a message", "decision_id not UTF-8", "patch.queueId not UTF-8"],
)
def test_an_answer_that_is_not_a_decide_response_fails_open(facade_in_process, garbage):
    """A wrong or broken peer on the decision port: grpc.aio hands the facade None."""
    answer = grpc.unary_unary_rpc_method_handler(
        lambda request, context: garbage,
        request_deserializer=lambda raw: raw,
        response_serializer=lambda raw: raw,
    )

    class Garbage(grpc.GenericRpcHandler):
        def service(self, details):
            return answer

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((Garbage(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        facade = facade_in_process(f"127.0.0.1:{port}", deadline_ms=GENEROUS_DEADLINE_MS)
        webhook = Webhook(facade.port)
        before = counted("facade_fail_open_total", reason="bad_response")
        reply = webhook.post(SEED)
        assert (reply.status, reply.body) == (200, {})
        assert counted("facade_fail_open_total", reason="bad_response") == before + 1
        assert webhook.request("GET", "/readyz").status == 200
        assert webhook.request("GET", "/healthz/decision").status == 503
    finally:
        server.stop(None)


class TurnedClock:
    """Monotonic seconds that move only when the test turns them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


BODY = b'{"phoneNumber":"07400123456","countryCode":"+44"}'
HEAD = (
    b"POST /trueengage/callback HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (API_KEY.encode(), len(BODY))
)


def read_answer(connection: socket.socket) -> tuple[int, bytes]:
    """One answer (the facade's are short and carry Content-Length) from a kept connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
    while len(body) < length:
        body += connection.recv(65536)
    return int(head.split(b" ", 2)[1]), body


@pytest.fixture
def clocked(scripted, facade_in_process):
    """A facade whose clock the test turns, with a 300 ms deadline."""
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    clock = TurnedClock()
    facade = facade_in_process(f"127.0.0.1:{scripted.port}", clock=clock, deadline_ms=300)
    return facade, clock


def test_a_request_whose_deadline_passed_before_it_was_read_is_answered_without_asking(
    scripted, clocked
):
    """Its deadline counts from its arrival, not from when the facade got to it: once spent
    (a backlog on the event loop, a slow sender), the answer is {} at once, and the decision
    service is not asked for a decision nobody would wait for."""
    facade, clock = clocked
    late = counted("facade_fail_open_total", reason="late")
    with socket.create_connection(("127.0.0.1", facade.port), timeout=10) as connection:
        connection.sendall(HEAD)
        wait_until(lambda: facade.server.http.requests_in_progress == 1, "the head is read")
        clock.now += 0.5  # past the deadline, before the body is in
        connection.sendall(BODY)
        assert read_answer(connection) == (200, b"{}")
    assert counted("facade_fail_open_total", reason="late") == late + 1
    assert scripted.servicer.requests == []


def test_a_new_connections_request_arrived_with_the_connection(scripted, clocked):
    facade, clock = clocked
    with socket.create_connection(("127.0.0.1", facade.port), timeout=10) as connection:
        wait_until(lambda: facade.server.http.connections_held == 1, "the connection is taken")
        clock.now += 0.5  # spent before its first byte was read
        connection.sendall(HEAD + BODY)
        assert read_answer(connection) == (200, b"{}")
    assert scripted.servicer.requests == []


def test_the_decision_gets_what_is_left_of_the_deadline(scripted, clocked):
    """And a keep-alive connection's next request counts from its own head, not from the
    connection's start or the idle time before it."""
    facade, clock = clocked
    with socket.create_connection(("127.0.0.1", facade.port), timeout=10) as connection:
        connection.sendall(HEAD)
        wait_until(lambda: facade.server.http.requests_in_progress == 1, "the head is read")
        clock.now += 0.2  # 100 ms of the 300 are left
        connection.sendall(BODY)
        assert read_answer(connection) == (200, b'{"queueId":"%s"}' % QUEUE.encode())
        clock.now += 3600  # idle for an hour between two requests
        connection.sendall(HEAD + BODY)
        assert read_answer(connection) == (200, b'{"queueId":"%s"}' % QUEUE.encode())
    # The gRPC deadline is what was left (gRPC's encoding of it may add a few microseconds).
    first, second = scripted.servicer.time_remaining
    assert 0 < first <= 0.1 + 0.001
    assert 0.1 + 0.001 < second <= 0.3 + 0.001
