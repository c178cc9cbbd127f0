"""What stands between the public internet and a decision: keys, addresses, rates, sizes,
answers that keep to Genesys' rules, TLS on both hops, and a clean shutdown."""

from __future__ import annotations

import http.client
import signal
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import trustme
from google.protobuf.timestamp_pb2 import Timestamp

from decision.v1 import decision_pb2
from facade.devstack import ServiceProcess
from tests.conftest import (
    API_KEY,
    EXAMPLE_RULES,
    SEED,
    Webhook,
    background_load,
    start_decision,
    start_facade,
)
from tests.scripted_decision import ScriptedServer

QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000001"
OTHER_QUEUE = "5a9d0c4e-1b2f-4c3d-8e5f-000000000002"


@pytest.fixture
def scripted():
    server = ScriptedServer()
    yield server
    server.stop()


def facade_for(scripted: ScriptedServer, *extra: str, deadline_ms: int = 300, **kwargs):
    return start_facade(f"127.0.0.1:{scripted.port}", deadline_ms, *extra, **kwargs)


def test_keys_file_rotates_on_sighup_and_header_is_configurable(scripted, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text("# rotated monthly\nold-key-111111\n")
    facade = facade_for(
        scripted,
        "--api-keys-file",
        str(keys),
        "--api-key-header",
        "X-TrueEngage-Key",
        env={"FACADE_API_KEYS": ""},
    )
    try:
        webhook = Webhook(facade.port, "old-key-111111")
        assert webhook.post(SEED, key=False, **{"X-TrueEngage-Key": "old-key-111111"}).status == 200
        assert webhook.post(SEED).status == 401  # X-API-Key is not the configured header
        assert webhook.post(SEED, key=False, Authorization="Bearer old-key-111111").status == 200
        keys.write_text("new-key-222222\n")
        facade.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while webhook.post(SEED, key=False, Authorization="Bearer new-key-222222").status != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert webhook.post(SEED, key=False, Authorization="Bearer old-key-111111").status == 401
    finally:
        facade.stop()


def test_refuses_to_start_without_any_key(scripted):
    with pytest.raises(RuntimeError, match="exited with 2"):
        facade_for(scripted, env={"FACADE_API_KEYS": ""})


def test_allow_list_and_trusted_proxy(scripted):
    facade = facade_for(
        scripted, "--allow-cidrs", "203.0.113.0/24", "--trusted-proxies", "127.0.0.1/32"
    )
    try:
        webhook = Webhook(facade.port)
        direct = webhook.post(SEED)
        assert (direct.status, direct.body) == (403, {"error": "client address not allowed"})
        assert webhook.post(SEED, **{"X-Forwarded-For": "203.0.113.7"}).status == 200
        assert webhook.post(SEED, **{"X-Forwarded-For": "198.51.100.1"}).status == 403
        # A client cannot smuggle an allowed address in front of its own.
        spoofed = webhook.post(SEED, **{"X-Forwarded-For": "203.0.113.7, 198.51.100.1"})
        assert spoofed.status == 403
    finally:
        facade.stop()


def test_only_failed_authentication_is_throttled_never_a_valid_key(scripted):
    facade = facade_for(scripted, "--auth-failure-rate", "0.5", "--auth-failure-burst", "2")
    try:
        webhook = Webhook(facade.port)
        guesses = [webhook.post(SEED, key=f"guess-{n}") for n in range(3)]
        assert [reply.status for reply in guesses] == [401, 401, 429]
        assert guesses[2].headers["Retry-After"] == "2"
        assert guesses[2].body == {"error": "too many failed authentications"}
        # The same address, now over its budget, still gets every valid request answered.
        assert {webhook.post(SEED).status for _ in range(50)} == {200}
        text = metrics_text(facade.port)
        assert 'facade_refusals_total{reason="rate_limited"} 1.0' in text
        assert 'facade_refusals_total{reason="unauthenticated"} 2.0' in text
    finally:
        facade.stop()


def metrics_text(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    return text


def test_every_refusal_is_counted_and_no_key_is_ever_logged(scripted, tmp_path):
    log_path = tmp_path / "facade.log"
    with log_path.open("w") as log_file:
        facade = facade_for(scripted, stderr=log_file)
        try:
            webhook = Webhook(facade.port)
            webhook.post(SEED)
            webhook.post(SEED, key="guess-1234567890")
            webhook.post("{bad")
            webhook.request(
                "POST",
                "/trueengage/callback",
                "x",
                {"X-API-Key": API_KEY, "Content-Type": "text/plain"},
            )
            webhook.post({**SEED, "pad": "x" * 70_000})
            text = metrics_text(facade.port)
        finally:
            facade.stop()
    for reason in ("unauthenticated", "invalid_payload", "content_type", "body_too_large"):
        assert f'facade_refusals_total{{reason="{reason}"}} 1.0' in text
    assert 'facade_requests_total{status="200"} 1.0' in text
    log = log_path.read_text()
    assert API_KEY not in log
    assert "guess-1234567890" not in log
    assert '"phone":"*******3456"' in log  # masked: last four digits only
    assert "07400123456" not in log


def test_in_flight_cap_answers_at_once_instead_of_queueing(scripted):
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    scripted.servicer.delay = 0.6
    facade = facade_for(scripted, "--max-in-flight", "1", deadline_ms=2000)
    try:
        webhook = Webhook(facade.port)
        replies: list = []
        first = threading.Thread(target=lambda: replies.append(webhook.post(SEED)))
        first.start()
        time.sleep(0.2)
        overflow = webhook.post(SEED)
        first.join()
    finally:
        facade.stop()
    assert (overflow.status, overflow.body) == (200, {})
    assert overflow.seconds < 0.3
    assert replies[0].body == {"queueId": QUEUE}


def test_answers_keep_to_genesys_rules_field_by_field(scripted):
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
    facade = facade_for(scripted)
    try:
        webhook = Webhook(facade.port)
        reply = webhook.post(SEED)
        text = metrics_text(facade.port)
    finally:
        facade.stop()
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
    for name in (
        "callbackNumbers",
        "callbackScheduledTime",
        "countryCode",
        "routingData.priority",
        "routingData.skillIds",
    ):
        assert f'facade_answer_fields_dropped_total{{field="{name}"}} 1.0' in text


def test_routing_data_with_a_different_queue_is_dropped(scripted):
    scripted.servicer.patch = decision_pb2.CallbackPatch(
        queue_id=QUEUE, routing_data=decision_pb2.RoutingData(queue_id=OTHER_QUEUE, priority=1)
    )
    facade = facade_for(scripted)
    try:
        assert Webhook(facade.port).post(SEED).body == {"queueId": QUEUE}
    finally:
        facade.stop()


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


def test_facade_serves_https(scripted, pki):
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    facade = facade_for(scripted, "--tls-cert", pki["server_cert"], "--tls-key", pki["server_key"])
    try:
        context = ssl.create_default_context(cafile=pki["ca"])
        connection = http.client.HTTPSConnection(
            "localhost", facade.port, context=context, timeout=10
        )
        connection.request(
            "POST",
            "/trueengage/callback",
            body='{"phoneNumber":"1"}',
            headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        assert (response.status, response.read()) == (200, b'{"queueId":"' + QUEUE.encode() + b'"}')
        connection.close()
    finally:
        facade.stop()


def test_grpc_hop_over_mutual_tls(pki):
    decision = ServiceProcess(
        "decision",
        [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rules",
            str(EXAMPLE_RULES),
            "--tls-cert",
            pki["server_cert"],
            "--tls-key",
            pki["server_key"],
            "--tls-client-ca",
            pki["ca"],
        ],
    )
    target = f"localhost:{decision.port}"
    with_cert = start_facade(
        target,
        2000,
        "--decision-tls-ca",
        pki["ca"],
        "--decision-tls-cert",
        pki["client_cert"],
        "--decision-tls-key",
        pki["client_key"],
    )
    without_cert = start_facade(target, 300, "--decision-tls-ca", pki["ca"])
    try:
        assert Webhook(with_cert.port).post(SEED).body["queueId"] == QUEUE
        # No client certificate: the handshake fails and the facade fails open.
        assert Webhook(without_cert.port).post(SEED).body == {}
    finally:
        with_cert.stop()
        without_cert.stop()
        decision.stop()


def test_sigterm_lets_in_flight_requests_finish(scripted):
    scripted.servicer.patch = decision_pb2.CallbackPatch(queue_id=QUEUE)
    scripted.servicer.delay = 0.8
    facade = facade_for(scripted, deadline_ms=3000)
    webhook = Webhook(facade.port)
    replies: list = []
    worker = threading.Thread(target=lambda: replies.append(webhook.post(SEED)))
    worker.start()
    time.sleep(0.3)
    facade.process.send_signal(signal.SIGTERM)
    worker.join()
    assert facade.process.wait(10) == 0
    assert (replies[0].status, replies[0].body) == (200, {"queueId": QUEUE})
    with pytest.raises(ConnectionRefusedError):
        webhook.post(SEED)
    facade.stop()


def test_decision_killed_and_restarted_under_load_never_fails_an_answer():
    decision = start_decision(EXAMPLE_RULES)
    port = decision.port
    facade = start_facade(f"127.0.0.1:{port}", 300)
    try:
        with background_load(Webhook(facade.port)) as replies:
            time.sleep(0.5)
            decision.stop(signal.SIGKILL)
            time.sleep(0.7)
            decision = start_decision(EXAMPLE_RULES, port)
            time.sleep(1.5)
    finally:
        facade.stop()
        decision.stop()
    assert all(r.status == 200 for r in replies)
    assert max(r.seconds for r in replies) < 0.3 + 0.3
    decided = [bool(r.body) for r in replies]
    assert decided[0]  # decisions before the kill
    assert decided[-1]  # and after the restart
    assert not all(decided)  # and fail-open answers while it was down


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
