"""Connections that send nothing, or dribble, cannot leave a valid webhook unanswered: the
listeners hold a bounded number of connections (overall and per address) under the process's
open-files limit, a connection that has not sent its first head gives way to a new one, the
first head has a short timeout, and running out of descriptors pauses accepting with one log
line instead of a spinning loop."""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from contract.v1 import decision_pb2
from facade.config import FacadeSettings
from facade.connection_limits import AddressKeys, connection_budget
from tests.conftest import API_KEY, SEED, Webhook, counted, start_facade, wait_until

QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"


def open_files_limit(limit: int, hard: int | None = None) -> tuple[str, ...]:
    """A launcher: the facade starts under `ulimit -n limit` (util-linux's prlimit execs it;
    a preexec_fn would run Python in a child forked from a process running gRPC threads)."""
    return ("prlimit", f"--nofile={limit}:{hard or limit}", "--")


@contextmanager
def silent_connections(
    port: int, count: int, sources: tuple[str, ...] = ("127.0.0.1",)
) -> Iterator[list[socket.socket]]:
    """`count` connections that send nothing, spread over the source addresses in turn."""
    with ExitStack() as stack:
        held = []
        for n in range(count):
            source = (sources[n % len(sources)], 0)
            held.append(
                stack.enter_context(
                    socket.create_connection(("127.0.0.1", port), timeout=10, source_address=source)
                )
            )
        yield held


def closed_by_server(connection: socket.socket) -> bool:
    """Waits (up to the socket's timeout) until the server closes the connection."""
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


def closed_by_server_one_of(connections: list[socket.socket]) -> bool:
    """Waits (up to the first's timeout) until the server closes one of `connections`, none
    of which has been answered: what is readable is the close."""
    readable, _, _ = select.select(connections, [], [], connections[0].gettimeout())
    return bool(readable) and all(closed_by_server(connection) for connection in readable)


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_idle_connections_past_the_open_files_limit_leave_the_webhook_answered(scripted, tmp_path):
    """Under `ulimit -n 256`, 300 connections that send nothing: the facade used to stop
    accepting (every descriptor taken), so a valid webhook got no answer, while its accept loop
    logged a traceback for each attempt at full CPU."""
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    stderr = tmp_path / "facade.log"
    with stderr.open("w") as log:
        facade = start_facade(
            f"127.0.0.1:{scripted.port}", 300, stderr=log, launcher=open_files_limit(256)
        )
        try:
            with silent_connections(facade.port, 300):
                reply = Webhook(facade.port).post(SEED)
                assert (reply.status, reply.body) == (200, {"queueId": QUEUE})
            with silent_connections(facade.port, 300, ("127.0.0.2", "127.0.0.3", "127.0.0.4")):
                assert Webhook(facade.port).post(SEED).status == 200
        finally:
            facade.stop()
    lines = log_lines(stderr)
    assert not [line for line in lines if '"level":"error"' in line or "Traceback" in line]
    assert not [line for line in lines if "cannot accept" in line]  # the cap held first
    started = next(line for line in lines if "connections: at most" in line)
    assert "at most 192 on the webhook (96 per address)" in started
    assert "open-files limit 256" in started


def test_running_out_of_descriptors_pauses_accepting_with_one_log_line(scripted, tmp_path):
    """A cap set above what the limit allows (or descriptors taken by something else): the
    facade pauses accepting, logs it once, and takes the waiting connections, the webhook's
    among them, as soon as descriptors are free again."""
    stderr = tmp_path / "facade.log"
    with stderr.open("w") as log:
        facade = start_facade(
            f"127.0.0.1:{scripted.port}",
            300,
            "--max-connections",
            "1000",
            "--max-connections-per-address",
            "1000",
            stderr=log,
            launcher=open_files_limit(128),
        )
        try:
            replies: list = []
            with silent_connections(facade.port, 200):
                wait_until(
                    lambda: "cannot accept connections" in stderr.read_text(),
                    "the facade runs out of descriptors",
                )
                waiting = threading.Thread(
                    target=lambda: replies.append(Webhook(facade.port).post(SEED))
                )
                waiting.start()  # queued in the kernel's backlog behind the silent ones
            waiting.join()  # the silent connections closed: it is accepted and answered
            assert replies[0].status == 200
        finally:
            facade.stop()
    lines = log_lines(stderr)
    assert len([line for line in lines if "cannot accept connections" in line]) == 1
    # gRPC's own core may say once or twice that it could not open a socket while none was
    # left (the decision channel reconnecting): a line, not a storm. The facade says nothing more.
    ours = [line for line in lines if '"logger":"grpc.' not in line]
    assert not [line for line in ours if '"level":"error"' in line or "Traceback" in line]
    assert len(lines) - len(ours) <= 5
    assert any("--max-connections 1000 is more than the open-files limit" in x for x in lines)


def test_the_open_files_limit_is_raised_towards_what_the_caps_need(scripted):
    """A soft limit of 1,024 under a higher hard limit (systemd's default) is raised, as far
    as the caps need: 4,096 webhook connections, the reserve, no console."""
    facade = start_facade(f"127.0.0.1:{scripted.port}", launcher=open_files_limit(1024, 8192))
    try:
        limits = Path(f"/proc/{facade.process.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert line.split()[3:5] == ["4224", "8192"]
    finally:
        facade.stop()


@pytest.fixture
def small(scripted, facade_in_process):
    """A facade that holds 4 connections, 2 per address."""
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    return facade_in_process(
        f"127.0.0.1:{scripted.port}", max_connections=4, max_connections_per_address=2
    )


def held(facade) -> int:
    return facade.server.http.connections_held


def test_a_silent_connection_gives_way_to_a_new_one(small):
    evicted = counted("facade_connections_evicted_total", listener="webhook", reason="silent")
    with silent_connections(small.port, 4, ("127.0.0.2", "127.0.0.3")) as silent:
        wait_until(lambda: held(small) == 4, "four connections held")
        assert Webhook(small.port).post(SEED).status == 200
        assert closed_by_server(silent[0])  # the oldest
    after = counted("facade_connections_evicted_total", listener="webhook", reason="silent")
    assert after == evicted + 1


def test_one_address_holds_at_most_its_share(scripted, facade_in_process):
    """At its cap an address's new connection takes the place of its own oldest one silent for
    a second; younger ones are held past it (the listener's cap decides), as they may be the
    key holder's own whose heads the loop has not read yet."""
    clock = TurnedClock()
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}", clock=clock, max_connections=4, max_connections_per_address=2
    )
    evicted = counted("facade_connections_evicted_total", listener="webhook", reason="silent")
    over = counted("facade_connections_over_address_cap_total", listener="webhook")
    with silent_connections(facade.port, 3, ("127.0.0.2",)) as silent:
        wait_until(lambda: held(facade) == 3, "three held: the third is too young to tell")
        assert counted("facade_connections_over_address_cap_total", listener="webhook") == over + 1
        clock.now += 1.0
        with silent_connections(facade.port, 1, ("127.0.0.2",)):
            assert closed_by_server(silent[0])  # the fourth took the first's place
            wait_until(lambda: held(facade) == 3, "three held")
    after = counted("facade_connections_evicted_total", listener="webhook", reason="silent")
    assert after == evicted + 1


def test_what_gives_way_first(scripted, facade_in_process):
    """A connection silent for a second or more, then one whose request has no valid key, then
    an idle keep-alive one that never carried a valid key, then one silent for less (a real
    client's head may still be waiting to be read), and a keep-alive one of the key holder's
    only when nothing else can go (closing it races the holder's next request). Each webhook's
    own connection is released before the next step: the client closes it after its answer,
    and the server may see that close before or after it accepts the next connection."""
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    clock = TurnedClock()
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}", clock=clock, max_connections=4, max_connections_per_address=4
    )
    with keep_alive(facade.port) as kept, silent_connections(facade.port, 3) as silent:
        wait_until(lambda: held(facade) == 4, "four held")
        assert Webhook(facade.port).post(SEED).status == 200
        assert closed_by_server(silent[0])  # young, but the key holder's idle one goes last
        wait_until(lambda: held(facade) == 3, "three held: the webhook's released")
        with keep_alive(facade.port, path="/healthz") as keyless:
            wait_until(lambda: held(facade) == 4, "four held again")
            assert Webhook(facade.port).post(SEED).status == 200
            assert closed_by_server(keyless.sock)  # idle without a key: before young silent
            wait_until(lambda: held(facade) == 3, "three held: the webhook's released")
        clock.now += 1.0  # the silent ones have had their chance
        with keep_alive(facade.port, path="/healthz") as keyless:
            wait_until(lambda: held(facade) == 4, "four held: the key holder's, two silent")
            assert Webhook(facade.port).post(SEED).status == 200
            assert closed_by_server(silent[1])  # silent for a second: before idle without a key
            wait_until(lambda: held(facade) == 3, "three held: the webhook's released")
            with silent_connections(facade.port, 1):
                wait_until(lambda: held(facade) == 4, "four held: a young silent one too")
                assert Webhook(facade.port).post(SEED).status == 200
                assert closed_by_server(silent[2])  # and before a young silent one
            keyless.request("GET", "/healthz")
            assert keyless.getresponse().status == 200  # still open
        kept.request("POST", "/trueengage/callback", body=BODY, headers=VALID)
        assert kept.getresponse().status == 200  # still open


class TurnedClock:
    """Monotonic seconds that move only when the test turns them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


BODY = json.dumps(SEED)
VALID = {"X-API-Key": API_KEY, "Content-Type": "application/json"}


@contextmanager
def keep_alive(
    port: int, path: str = "/trueengage/callback"
) -> Iterator[http.client.HTTPConnection]:
    """A connection that has been answered once (a valid webhook, or a GET of `path`) and
    stays open, idle."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if path == "/trueengage/callback":
            connection.request("POST", path, body=BODY, headers=VALID)
            assert connection.getresponse().read() == b'{"queueId":"%s"}' % QUEUE.encode()
        else:
            connection.request("GET", path)
            assert connection.getresponse().read()
        yield connection
    finally:
        connection.close()


def test_a_refused_request_still_sending_its_body_gives_way(small):
    """Heads without a key, then a body a byte at a time: refused at once, but their bodies
    are read to keep the connections usable, for up to the body timeout. At a cap they give
    way to a new connection (a sender without a key has only its 401 to lose)."""
    evicted = counted("facade_connections_evicted_total", listener="webhook", reason="unkeyed")
    refused = counted("facade_refusals_total", reason="unauthenticated")
    head = (
        b"POST /trueengage/callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60000\r\n\r\nx"
    )
    with silent_connections(small.port, 4, ("127.0.0.2", "127.0.0.3")) as trickling:
        for connection in trickling:
            connection.sendall(head)
        wait_until(
            lambda: counted("facade_refusals_total", reason="unauthenticated") == refused + 4,
            "four refused, their bodies still coming",
        )
        assert Webhook(small.port).post(SEED).status == 200
        # Which of the four goes is the one refused first, in the order the loop read their
        # heads (not always the order they were sent or connected in).
        assert closed_by_server_one_of(trickling)
    after = counted("facade_connections_evicted_total", listener="webhook", reason="unkeyed")
    assert after == evicted + 1


def test_a_refused_request_gives_way_before_a_young_silent_connection(scripted, facade_in_process):
    """Once its handler has looked at a key-less head (run `prepare`, refused it), a request
    still sending its body has only its refusal to lose: it gives way before a connection
    that has sent nothing yet, which may be a real client's whose head the loop has not read.
    (Until its handler has looked, a head goes last of all: it may carry the key.)"""
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}",
        clock=TurnedClock(),  # the silent connection stays young
        max_connections=2,
        max_connections_per_address=4,
    )
    refused = counted("facade_refusals_total", reason="unauthenticated")
    head = (
        b"POST /trueengage/callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 60000\r\n\r\nx"
    )
    with silent_connections(facade.port, 1) as (trickling,):
        trickling.sendall(head)
        wait_until(
            lambda: counted("facade_refusals_total", reason="unauthenticated") == refused + 1,
            "refused, its body still coming",
        )
        with silent_connections(facade.port, 1) as (young,):
            wait_until(lambda: held(facade) == 2, "both held")
            assert Webhook(facade.port).post(SEED).status == 200
            assert closed_by_server(trickling)
            # One connection gives way per new one, at its accept: the young one's fate is
            # settled by the time the webhook is answered.
            assert select.select([young], [], [], 0)[0] == []


def test_a_connection_carrying_a_request_is_never_closed_for_room(scripted, facade_in_process):
    """At the cap with every connection waiting for its decision, a new connection is closed
    unanswered (counted); the held requests are answered."""
    scripted.servicer.hold()
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}",
        max_connections=2,
        max_connections_per_address=2,
        deadline_ms=60_000,
    )
    refused = counted(
        "facade_connections_refused_total", listener="webhook", reason="connection_cap"
    )
    replies: list = []
    senders = [threading.Thread(target=lambda: replies.append(Webhook(facade.port).post(SEED)))
               for _ in range(2)]  # fmt: skip
    for sender in senders:
        sender.start()
    scripted.servicer.wait_for_requests(2)
    with silent_connections(facade.port, 1) as late:
        assert closed_by_server(late[0])
    after = counted("facade_connections_refused_total", listener="webhook", reason="connection_cap")
    assert after == refused + 1
    scripted.servicer.release()
    for sender in senders:
        sender.join()
    assert [reply.status for reply in replies] == [200, 200]


def test_a_connection_that_sends_no_head_is_closed_after_the_head_timeout(
    scripted, facade_in_process
):
    """Not after the idle timeout (60 s), and not later for a head sent byte by byte."""
    facade = facade_in_process(f"127.0.0.1:{scripted.port}", head_timeout=0.2)
    with silent_connections(facade.port, 1) as (silent,):
        assert closed_by_server(silent)
    with socket.create_connection(("127.0.0.1", facade.port), timeout=10) as slow:
        slow.sendall(b"POST /trueengage/callback HTTP/1.1\r\n")
        closed = threading.Event()

        def dribble() -> None:
            try:
                while not closed.wait(0.05):  # a header line every 50 ms, forever
                    slow.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass

        dribbler = threading.Thread(target=dribble)
        dribbler.start()
        try:
            assert closed_by_server(slow)
        finally:
            closed.set()
            dribbler.join()


def test_the_console_cannot_take_the_webhooks_connections(scripted, facade_in_process):
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}",
        admin_listen="127.0.0.1:0",
        admin_keys=("console-key-222222",),
        admin_max_connections=2,
    )
    evicted = counted("facade_connections_evicted_total", listener="console", reason="silent")
    with silent_connections(facade.admin_port, 6, ("127.0.0.2", "127.0.0.3")):
        wait_until(
            lambda: (
                counted("facade_connections_evicted_total", listener="console", reason="silent")
                == evicted + 4
                # Counted as the fourth goes, just before its replacement is held: read
                # alone, the count let `connections_held` be read as 1 in between.
                and facade.server.admin.connections_held == 2
            ),
            "the console holds two",
        )
        assert Webhook(facade.port).post(SEED).status == 200


def test_the_budget_leaves_room_and_gives_the_console_its_own_share():
    settings = FacadeSettings(admin_listen="127.0.0.1:8081")
    at_1024 = connection_budget(settings, 1024)
    assert (at_1024.webhook, at_1024.webhook_per_address, at_1024.console) == (864, 432, 32)
    assert connection_budget(replace(settings, admin_listen=""), 1024).webhook == 896
    assert connection_budget(settings, 1_048_576).webhook == 4096  # memory: ~40 MB idle
    assert connection_budget(settings, 256).webhook == 160
    explicit = replace(settings, max_connections=100, max_connections_per_address=10)
    assert (connection_budget(explicit, 1024).webhook, connection_budget(explicit, 1024).webhook_per_address) == (100, 10)  # fmt: skip


def test_addresses_are_counted_per_host_and_per_ipv6_64():
    keys = AddressKeys(trusted_proxies=("10.0.0.0/8",))
    assert keys.key("203.0.113.7") == "203.0.113.7"
    assert keys.key("2001:db8:1:2::1") == keys.key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert keys.key("2001:db8:1:3::1") != keys.key("2001:db8:1:2::1")
    assert keys.key("::ffff:203.0.113.7") == "203.0.113.7"
    assert keys.key("10.1.2.3") is None  # a trusted proxy: every client behind it shares it
    assert keys.key("::ffff:10.1.2.3") is None
