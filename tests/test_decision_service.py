"""The decision service over real gRPC: Decide, health, reflection and clients against it in
process; shutdown, start-up failures and exit codes against the process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from contract.client import BlockingDecisionClient, DecisionClient
from contract.v1 import decision_pb2
from tests.conftest import EXAMPLE_RULES, start_decision
from tests.in_process import InProcessDecision


def at(text: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp


@pytest.fixture(scope="module")
def decision_in_process(services) -> Iterator[InProcessDecision]:
    with InProcessDecision(services, EXAMPLE_RULES) as service:
        yield service


@pytest.fixture(scope="module")
def client(decision_in_process: InProcessDecision):
    with BlockingDecisionClient(f"127.0.0.1:{decision_in_process.port}", timeout=5) as blocking:
        yield blocking


def test_decide_returns_patch_rules_facts_and_version(client):
    reply = client.decide(
        decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44", request_id="r-1")
    )
    assert reply.matched_rules == ["uk-mobile"]
    assert reply.patch.routing_data.queue_id == reply.patch.queue_id
    assert MessageToDict(reply.facts) == {
        "e164": "+447400123456",
        "region": "GB",
        "countryCallingCode": 44,
        "numberType": "mobile",
        "valid": True,
        "timeZone": "Europe/London",
        "timeZoneSource": "number",
        "numberTimeZones": [
            "Europe/Guernsey",
            "Europe/Isle_of_Man",
            "Europe/Jersey",
            "Europe/London",
        ],
        "localTime": reply.facts.local_time,
        "type": "NUMBER_TYPE_MOBILE",
        "zoneSource": "TIME_ZONE_SOURCE_NUMBER",
        "regionSource": "number",
    }
    assert len(reply.rules_version) == 16
    assert reply.request_id == "r-1"
    assert len(reply.decision_id) == 32


def test_decide_at_a_given_moment_schedules_us_after_hours(client):
    # 18:00 in New York on a Tuesday: after hours, so next opening is Wednesday 09:00 local.
    reply = client.decide(
        decision_pb2.DecideRequest(
            phone_number="2025550123", country_code="+1", at=at("2026-11-24T23:00:00Z")
        )
    )
    assert reply.matched_rules == ["us-after-hours"]
    assert MessageToDict(reply.patch)["callbackScheduledTime"] == "2026-11-25T14:00:00Z"
    assert reply.facts.local_time == "2026-11-24T18:00:00-05:00"


def test_async_client_and_health(decision_in_process):
    async def scenario():
        client = DecisionClient(f"127.0.0.1:{decision_in_process.port}", timeout=5)
        try:
            assert await client.serving()
            reply = await client.decide(decision_pb2.DecideRequest(phone_number="+447400123456"))
            return reply.matched_rules
        finally:
            await client.close()

    assert asyncio.run(scenario()) == ["uk-mobile"]


def test_standard_health_service_reports_serving(decision_in_process):
    with grpc.insecure_channel(f"127.0.0.1:{decision_in_process.port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "decision.v1.DecisionService"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(decision_in_process):
    with grpc.insecure_channel(f"127.0.0.1:{decision_in_process.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        reply = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=5)))
        names = {s.name for s in reply.list_services_response.service}
    assert {"decision.v1.DecisionService", "grpc.health.v1.Health"} <= names


def test_sigterm_stops_cleanly_with_exit_0():
    service = start_decision(EXAMPLE_RULES)
    with BlockingDecisionClient(f"127.0.0.1:{service.port}", timeout=5) as client:
        assert client.decide(decision_pb2.DecideRequest(phone_number="+447400123456")).matched_rules
    assert service.stop() == 0


def test_refuses_to_start_on_a_bad_rules_file(tmp_path):
    bad = tmp_path / "rules.toml"
    bad.write_text('version = 1\n[[rules]]\nname = "r"\nwhen = { region = "XX" }\nthen = {}\n')
    result = subprocess.run(
        [sys.executable, "-m", "decision", "serve", "--listen", "127.0.0.1:0", "--rules", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert f"{bad}: rule 'r': when.region: unknown region 'XX'" in result.stderr


def test_a_taken_port_is_a_clear_error(decision_in_process):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "decision",
            "serve",
            "--listen",
            f"127.0.0.1:{decision_in_process.port}",
            "--rules",
            str(EXAMPLE_RULES),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"decision: cannot listen on 127.0.0.1:{decision_in_process.port}" in result.stderr
