"""What stands between the public internet and a decision: keys, addresses, rates, sizes,
answers that keep to Genesys' rules, TLS on both hops, and a clean shutdown. The facade runs in
process unless the test is about the process itself (signals, exit codes, a killed service)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import trustme
from google.protobuf.timestamp_pb2 import Timestamp

from contract.v1 import decision_pb2
from decision.service.grpc_server import server_credentials
from decision.service.settings import DecisionSettings
from facade.rate_limit import RateLimiter
from plumbing.logs import AccessLog
from tests.conftest import (
    API_KEY,
    EXAMPLE_RULES,
    SEED,
    Webhook,
    background_load,
    counted,
    start_decision,
    start_facade,
    wait_until,
)
from tests.in_process import InProcessDecision

QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
OTHER_QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000002"


def test_keys_file_rotates_on_sighup(scripted, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# rotated monthly\nold-key-111111\n")
    facade = start_facade(
        f"127.0.0.1:{scripted.port}",
        300,
        "--api-keys-file",
        str(keys),
        env={"FACADE_API_KEYS": ""},
    )
    try:
        webhook = Webhook(facade.port)
        assert webhook.post(SEED, key="old-key-111111").status == 200
        keys.write_text("new-key-222222\n")
        facade.process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: webhook.post(SEED, key="new-key-222222").status == 200, "the new key works"
        )
        assert webhook.post(SEED, key="old-key-111111").status == 401
    finally:
        facade.stop()


def test_key_header_is_configurable_and_bearer_always_works(scripted, facade_in_process):
    facade = facade_in_process(f"127.0.0.1:{scripted.port}", api_key_header="X-TrueEngage-Key")
    webhook = Webhook(facade.port)
    assert webhook.post(SEED, key=False, **{"X-TrueEngage-Key": API_KEY}).status == 200
    assert webhook.post(SEED).status == 401  # X-API-Key is not the configured header
    assert webhook.post(SEED, key=False, Authorization=f"Bearer {API_KEY}").status == 200


def test_a_keys_file_that_cannot_be_used_keeps_the_old_keys(scripted, facade_in_process, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("old-key-111111\n")
    facade = facade_in_process(f"127.0.0.1:{scripted.port}", api_keys=(), api_keys_file=str(keys))
    webhook = Webhook(facade.port, "old-key-111111")
    keys.write_text("# every key commented out\n")
    facade.reload_keys()
    assert webhook.post(SEED).status == 200
    keys.unlink()
    facade.reload_keys()
    assert webhook.post(SEED).status == 200
    keys.write_text("new-key-222222\n")
    facade.reload_keys()
    assert webhook.post(SEED).status == 401
    assert webhook.post(SEED, key="new-key-222222").status == 200


def test_refuses_to_start_without_any_key(scripted):
    with pytest.raises(RuntimeError, match="exited with 2"):
        start_facade(f"127.0.0.1:{scripted.port}", env={"FACADE_API_KEYS": ""})


def test_allow_list_and_trusted_proxy(scripted, facade_in_process):
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}",
        allow_cidrs=("203.0.113.0/24",),
        trusted_proxies=("127.0.0.1/32",),
    )
    webhook = Webhook(facade.port)
    direct = webhook.post(SEED)
    assert (direct.status, direct.body) == (403, {"error": "client address not allowed"})
    assert webhook.post(SEED, **{"X-Forwarded-For": "203.0.113.7"}).status == 200
    assert webhook.post(SEED, **{"X-Forwarded-For": "198.51.100.1"}).status == 403
    # A client cannot smuggle an allowed address in front of its own.
    spoofed = webhook.post(SEED, **{"X-Forwarded-For": "203.0.113.7, 198.51.100.1"})
    assert spoofed.status == 403


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_only_failed_authentication_is_throttled_never_a_valid_key(scripted, facade_in_process):
    clock = FrozenClock()
    limiter = RateLimiter(0.5, 2, clock=clock)
    webhook = Webhook(facade_in_process(f"127.0.0.1:{scripted.port}", limiter=limiter).port)
    limited = counted("facade_refusals_total", reason="rate_limited")
    unauthenticated = counted("facade_refusals_total", reason="unauthenticated")
    guesses = [webhook.post(SEED, key=f"guess-{n}") for n in range(3)]
    assert [reply.status for reply in guesses] == [401, 401, 429]
    assert guesses[2].headers["Retry-After"] == "2"
    assert guesses[2].body == {"error": "too many failed authentications"}
    # The same address, now over its budget, still gets every valid request answered.
    assert {webhook.post(SEED).status for _ in range(50)} == {200}
    assert counted("facade_refusals_total", reason="rate_limited") == limited + 1
    assert counted("facade_refusals_total", reason="unauthenticated") == unauthenticated + 2
    clock.now += 2  # the Retry-After later, one more guess is heard (and refused)
    assert webhook.post(SEED, key="guess-3").status == 401


def test_every_refusal_is_counted_and_no_key_is_ever_logged(
    scripted, facade_in_process, captured_logs
):
    access_log = AccessLog("facade", captured_logs)
    facade = facade_in_process(f"127.0.0.1:{scripted.port}", access_log=access_log)
    reasons = ("unauthenticated", "invalid_payload", "content_type", "body_too_large")
    before = {reason: counted("facade_refusals_total", reason=reason) for reason in reasons}
    answered = counted("facade_requests_total", status="200")
    webhook = Webhook(facade.port)
    webhook.post(SEED)
    webhook.post(SEED, key="guess-1234567890")
    webhook.post("{bad")
    webhook.request(
        "POST", "/trueengage/callback", "x", {"X-API-Key": API_KEY, "Content-Type": "text/plain"}
    )
    webhook.post({**SEED, "pad": "x" * 70_000})
    with urllib.request.urlopen(f"http://127.0.0.1:{facade.port}/metrics", timeout=10) as page:
        scraped = page.read().decode()
    facade.stop()  # flushes the access log
    for reason in reasons:
        assert counted("facade_refusals_total", reason=reason) == before[reason] + 1
    assert counted("facade_requests_total", status="200") == answered + 1
    assert 'facade_refusals_total{reason="content_type"}' in scraped
    log = captured_logs.getvalue()
    assert log.count('"logger":"facade.access"') == 6
    assert API_KEY not in log
    assert "guess-1234567890" not in log
    assert '"phone":"*******3456"' in log  # masked: last four digits only
    assert "07400123456" not in log


def test_in_flight_cap_answers_at_once_instead_of_queueing(scripted, facade_in_process):
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    scripted.servicer.hold()
    facade = facade_in_process(f"127.0.0.1:{scripted.port}", max_in_flight=1, deadline_ms=10_000)
    webhook = Webhook(facade.port)
    replies: list = []
    first = threading.Thread(target=lambda: replies.append(webhook.post(SEED)))
    first.start()
    scripted.servicer.wait_for_requests(1)  # the only slot is taken
    overloaded = counted("facade_fail_open_total", reason="overloaded")
    overflow = webhook.post(SEED)
    scripted.servicer.release()
    first.join()
    assert (overflow.status, overflow.body) == (200, {})
    assert counted("facade_fail_open_total", reason="overloaded") == overloaded + 1
    assert len(scripted.servicer.requests) == 1  # the overflow never reached the service
    assert replies[0].body == {"queueId": QUEUE}


def test_answers_keep_to_genesys_rules_field_by_field(scripted, facade_in_process):
    past = Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(minutes=5))
    scripted.servicer.patch = decision_pb2.CallbackPatch(
        queue_id=QUEUE,
        callback_numbers=["07400123456"],
        caller_id="+442071234567",
        caller_id_name="Acme",
        callback_scheduled_time=past,
        country_code="44",
        routing_data=decision_pb2.RoutingData(
            queue_id=QUEUE,
            priority=30_000_000,
            skill_ids=["not-an-id"],
            preferred_agent_ids=["7c0e5b3a-1111-4222-8333-000000000001"],
        ),
        data={"ok": "yes"},
    )
    dropped_fields = (
        "callbackNumbers",
        "callbackScheduledTime",
        "countryCode",
        "routingData.priority",
        "routingData.skillIds",
    )
    before = {f: counted("facade_answer_fields_dropped_total", field=f) for f in dropped_fields}
    reply = Webhook(facade_in_process(f"127.0.0.1:{scripted.port}").port).post(SEED)
    assert reply.body == {
        "queueId": QUEUE,
        "routingData": {
            "queueId": QUEUE,
            "preferredAgentIds": ["7c0e5b3a-1111-4222-8333-000000000001"],
        },
        "callerId": "+442071234567",
        "callerIdName": "Acme",
        "data": {"ok": "yes"},
    }
    for name in dropped_fields:
        assert counted("facade_answer_fields_dropped_total", field=name) == before[name] + 1


def test_routing_data_with_a_different_queue_is_dropped(scripted, facade_in_process):
    scripted.servicer.patch = decision_pb2.CallbackPatch(
        queue_id=QUEUE, routing_data=decision_pb2.RoutingData(queue_id=OTHER_QUEUE, priority=1)
    )
    webhook = Webhook(facade_in_process(f"127.0.0.1:{scripted.port}").port)
    assert webhook.post(SEED).body == {"queueId": QUEUE}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    paths = {"ca": folder / "ca.pem"}
    ca.cert_pem.write_to_path(paths["ca"])
    for name, identity in (("server", "localhost"), ("client", "facade.internal")):
        cert = ca.issue_cert(identity, "127.0.0.1") if name == "server" else ca.issue_cert(identity)
        paths[f"{name}_key"] = folder / f"{name}.key"
        paths[f"{name}_cert"] = folder / f"{name}.pem"
        cert.private_key_pem.write_to_path(paths[f"{name}_key"])
        paths[f"{name}_cert"].write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    return {key: str(value) for key, value in paths.items()}


def test_facade_serves_https(scripted, facade_in_process, pki):
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    facade = facade_in_process(
        f"127.0.0.1:{scripted.port}", tls_cert=pki["server_cert"], tls_key=pki["server_key"]
    )
    context = ssl.create_default_context(cafile=pki["ca"])
    connection = http.client.HTTPSConnection("localhost", facade.port, context=context, timeout=10)
    try:
        connection.request(
            "POST",
            "/trueengage/callback",
            body='{"phoneNumber":"1"}',
            headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b'{"queueId":"' + QUEUE.encode() + b'"}')
    finally:
        connection.close()


def test_grpc_hop_over_mutual_tls(services, facade_in_process, pki):
    tls = DecisionSettings(
        tls_cert=pki["server_cert"], tls_key=pki["server_key"], tls_client_ca=pki["ca"]
    )
    decision = InProcessDecision(services, EXAMPLE_RULES, server_credentials(tls))
    target = f"localhost:{decision.port}"
    try:
        with_cert = facade_in_process(
            target,
            deadline_ms=10_000,
            decision_tls_ca=pki["ca"],
            decision_tls_cert=pki["client_cert"],
            decision_tls_key=pki["client_key"],
        )
        without_cert = facade_in_process(target, deadline_ms=10_000, decision_tls_ca=pki["ca"])
        assert Webhook(with_cert.port).post(SEED).body["queueId"] == QUEUE
        # No client certificate: the handshake fails and the facade fails open.
        refused = counted("facade_fail_open_total", reason="unavailable")
        assert Webhook(without_cert.port).post(SEED).body == {}
        assert counted("facade_fail_open_total", reason="unavailable") == refused + 1
    finally:
        decision.stop()


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_lets_in_flight_requests_finish(scripted):
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    scripted.servicer.hold()
    facade = start_facade(f"127.0.0.1:{scripted.port}", 10_000, "--grace", "30")
    webhook = Webhook(facade.port)
    replies: list = []
    worker = threading.Thread(target=lambda: replies.append(webhook.post(SEED)))
    worker.start()
    try:
        scripted.servicer.wait_for_requests(1)  # in flight, held by the decision service
        facade.process.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses_connections(facade.port), "the facade stops accepting")
        scripted.servicer.release()  # only now may the request in flight finish
        worker.join()
        assert facade.process.wait(10) == 0
    finally:
        scripted.servicer.release()
        facade.stop()
    assert (replies[0].status, replies[0].body) == (200, {"queueId": QUEUE})


def test_decision_killed_and_restarted_under_load_never_fails_an_answer(facade_in_process):
    decision = start_decision(EXAMPLE_RULES)
    port = decision.port
    webhook = Webhook(facade_in_process(f"127.0.0.1:{port}").port)
    try:
        with background_load(webhook) as replies:
            wait_until(lambda: any(r.body for r in replies), "a decision before the kill")
            decision.stop(signal.SIGKILL)
            killed = len(replies)
            wait_until(lambda: any(not r.body for r in replies[killed:]), "a fail-open answer")
            decision = start_decision(EXAMPLE_RULES, port=port)
            restarted = len(replies)
            wait_until(lambda: any(r.body for r in replies[restarted:]), "a decision after")
    finally:
        decision.stop()
    assert all(r.status == 200 for r in replies)
    assert all(r.body == {} or r.body["queueId"] == QUEUE for r in replies)


def test_a_taken_port_is_a_clear_error(webhook):
    result = subprocess.run(
        [sys.executable, "-m", "facade", "serve", "--listen", f"127.0.0.1:{webhook.port}"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"FACADE_API_KEYS": "k", "PATH": ""},
    )
    assert result.returncode == 1
    assert f"facade: cannot listen on 127.0.0.1:{webhook.port}:" in result.stderr
    assert "Traceback" not in result.stderr


class _StalledStream:
    """A stderr nobody reads: every write waits until the test lets it through."""

    def __init__(self) -> None:
        self.let_through = threading.Event()
        self.written: list[str] = []

    def write(self, text: str) -> None:
        self.let_through.wait()
        self.written.append(text)

    def flush(self) -> None:
        pass


def test_a_stderr_nobody_reads_never_blocks_a_request_and_the_lines_kept_are_written():
    """The access log wrote its batches on the event loop: a stalled log collector (a full pipe
    on stderr) blocked the loop, and every answer with it."""
    stream = _StalledStream()
    access_log = AccessLog("facade", stream, max_pending_bytes=300_000)

    async def requests() -> None:  # on an event loop, as the services write
        for n in range(5_000):  # ~150 bytes each: batches of 64 KiB handed over as they fill
            access_log.write("facade.access", "request", {"request_id": f"r{n}", "status": 200})
        access_log._hand_over()

    logging_thread = threading.Thread(target=asyncio.run, args=(requests(),))
    logging_thread.start()
    logging_thread.join(10)  # only ever reached when the test fails
    blocked = logging_thread.is_alive()
    dropped = access_log.dropped
    stream.let_through.set()
    logging_thread.join()
    assert not blocked  # before: blocked in the first write, until the stream took it
    assert dropped > 0  # past the bound, batches were dropped and counted
    assert access_log.flush()
    lines = "".join(stream.written).splitlines()
    assert len(lines) + access_log.dropped == 5_000
    assert json.loads(lines[0])["request_id"] == "r0"  # in order, from the first


def test_a_facade_whose_stderr_nobody_reads_answers_every_webhook_and_stops():
    """Adversary round 5, N1: with stderr a pipe nobody read, the first warnings (fail-opens:
    the decision service away) filled it and froze the facade: webhooks got no answer at all
    and SIGTERM never finished. Its logs are now written by a thread while it serves."""
    facade = start_facade("127.0.0.1:1", stderr=subprocess.PIPE)  # never read
    try:
        webhook = Webhook(facade.port)
        # Each answer logs a warning and an access line: several times the pipe's 64 KiB.
        for _ in range(400):
            reply = webhook.post(SEED, API_KEY)
            assert (reply.status, reply.body) == (200, {})
    finally:
        code = facade.stop(timeout=40)  # exit waits up to 5 s for each stalled log
        assert facade.process.stderr is not None
        facade.process.stderr.close()
    assert code == 0


def test_grpc_core_writes_no_line_per_failed_tls_handshake(pki, tmp_path):
    """Adversary round 6, N5: at gRPC's default verbosity its C core wrote a line per failed
    TLS handshake straight to stderr from its own threads (3,400 a second from one key-less
    client), outside the service's log writer: with a stderr nobody read, every decision
    failed open and SIGTERM never finished. The services now default GRPC_VERBOSITY to ERROR."""
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}  # as a pod starts
    args = ["--tls-cert", pki["server_cert"], "--tls-key", pki["server_key"]]
    with (tmp_path / "stderr").open("w") as stderr:
        service = subprocess.Popen(
            [sys.executable, "-m", "decision", "serve", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
        )  # fmt: skip
        try:
            assert service.stdout is not None
            port = int(service.stdout.readline().split("serving on ")[1].split()[0].split(":")[1])
            for _ in range(20):  # not TLS: each handshake fails
                with socket.create_connection(("127.0.0.1", port)) as bare:
                    bare.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    bare.recv(1024)
            # A well-formed call after them: the handshakes have all been dealt with.
            context = grpc.ssl_channel_credentials(Path(pki["ca"]).read_bytes())
            with grpc.secure_channel(
                f"127.0.0.1:{port}",
                context,
                options=[("grpc.ssl_target_name_override", "localhost")],
            ) as channel:
                grpc.channel_ready_future(channel).result(timeout=10)
        finally:
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=30) == 0
            assert service.stdout is not None
            service.stdout.close()
    logged = (tmp_path / "stderr").read_text()
    assert "Handshake failed" not in logged, logged[:500]
