"""Schedule groups end to end (issue 19): the Genesys stand-in's schedule group pulled into a
snapshot, the rules asking about it, the Decide RPC with `at` giving open / closed / holiday and
the right callbackScheduledTime, a TrueEngage webhook with its scheduleGroupId through the
facade, and the decision log's facts that replay decides from."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.protobuf.json_format import MessageToDict

from contract.v1 import decision_pb2, decision_pb2_grpc
from decision.decision_log.writer import DecisionLog
from decision.genesys.api import Credentials, GenesysApi
from decision.genesys.snapshot import pull, write_snapshot
from decision.rules.live import read_rules
from decision.rules.replay import replay
from tests import genesys_org as org
from tests.conftest import Webhook, facade_settings
from tests.genesys_standin import GenesysStandin
from tests.in_process import EventLoopThread, InProcessDecision, InProcessFacade

RULES = """version = 1
[genesys]
snapshot = "org.json"
emergency_groups = { "Support hours US" = "Storm emergency US" }

[[rules]]
name = "holiday"
when = { schedule_group = "holiday" }
then = { queue = "Callbacks FR", data = { hours = "holiday" }, schedule = "next open" }

[[rules]]
name = "closed"
when = { schedule_group = ["closed", "emergency"] }
then = { queue = "Callbacks FR", data = { hours = "closed" }, schedule = "next open" }

[[rules]]
name = "open"
when = { schedule_group = "open" }
then = { queue = "Callbacks FR", data = { hours = "open" } }
"""


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("schedule-groups")
    with GenesysStandin() as standin:

        async def pulled() -> dict:
            credentials = Credentials(standin.client_id, standin.client_secret)
            api = GenesysApi(standin.api_url, standin.login_url, credentials, rate=0)
            try:
                return await pull(api, "loopback")
            finally:
                await api.close()

        write_snapshot(asyncio.run(pulled()), folder / "org.json")
    (folder / "rules.toml").write_text(RULES)
    return folder / "rules.toml"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("at", "hours", "active", "callback"),
    [
        # Mon 7 Dec 2026, New York: 10:00 open; 12:30 lunch (closed) until 13:00; 17:00 closed
        # (ends are exclusive) until Tuesday 08:00; Christmas Day (a Friday) a holiday, calling
        # back on Monday 28th at 08:00 EST.
        ("2026-12-07T15:00:00Z", "open", [org.SCHEDULE_WEEKDAYS], None),
        ("2026-12-07T17:30:00Z", "closed", [org.SCHEDULE_LUNCH], "2026-12-07T18:00:00Z"),
        ("2026-12-07T22:00:00Z", "closed", [], "2026-12-08T13:00:00Z"),
        ("2026-12-25T15:00:00Z", "holiday", [org.SCHEDULE_CHRISTMAS], "2026-12-28T13:00:00Z"),
    ],
)
def test_decide_at_a_moment_gives_the_groups_state_and_opening(
    services: EventLoopThread, rules_file: Path, at, hours, active, callback
):
    async def ask(port: int) -> decision_pb2.DecideResponse:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            request = decision_pb2.DecideRequest(
                phone_number="2025550123", country_code="+1", schedule_group_id=org.GROUP_SUPPORT_US
            )
            request.at.FromDatetime(utc(at))
            return await decision_pb2_grpc.DecisionServiceStub(channel).Decide(request, timeout=10)

    with InProcessDecision(services, rules_file) as decision:
        response = services.run(ask(decision.port))
    patch = MessageToDict(response.patch)
    assert patch["data"] == {"hours": hours}
    assert patch.get("callbackScheduledTime") == callback
    (group,) = response.facts.schedule_groups
    assert (group.id, group.name, group.state) == (org.GROUP_SUPPORT_US, "Support hours US", hours)
    assert [s.id for s in group.active_schedules] == active
    if callback:
        assert group.next_opening.ToDatetime(tzinfo=UTC) == utc(callback)
        assert group.next_opening_reason == "opens"


def test_a_webhook_with_its_schedule_group_through_the_facade(
    services: EventLoopThread, rules_file: Path
):
    with InProcessDecision(services, rules_file) as decision:
        # Lunch time in New York, as the service's own clock says.
        decision.servicer.clock = lambda: utc("2026-12-07T17:30:00Z")
        facade = InProcessFacade(services, facade_settings(f"127.0.0.1:{decision.port}"))
        try:
            body = {
                "phoneNumber": "2025550123",
                "countryCode": "+1",
                "queueId": "",
                "scheduleGroupId": org.GROUP_SUPPORT_US,
            }
            reply = Webhook(facade.port).post(body)
        finally:
            facade.stop()
    assert reply.status == 200
    assert reply.body["callbackScheduledTime"] == "2026-12-07T18:00:00Z"
    assert reply.body["data"] == {"hours": "closed"}
    assert reply.body["queueId"] == org.QUEUE_FR


def test_the_log_holds_the_groups_state_and_replay_decides_from_it(
    services: EventLoopThread, rules_file: Path, tmp_path: Path
):
    log_path = tmp_path / "decisions.jsonl"
    with InProcessDecision(services, rules_file) as decision:
        decision.servicer.decision_log = DecisionLog(str(log_path))

        async def ask() -> None:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{decision.port}") as channel:
                request = decision_pb2.DecideRequest(
                    phone_number="2025550123",
                    country_code="+1",
                    schedule_group_id=org.GROUP_SUPPORT_US,
                )
                request.at.FromDatetime(utc("2026-12-07T17:30:00Z"))
                stub = decision_pb2_grpc.DecisionServiceStub(channel)
                await stub.Decide(request, timeout=10)

        services.run(ask())
        decision.servicer.decision_log.close()
    (entry,) = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert entry["schedule_groups"][org.GROUP_SUPPORT_US]["state"] == "closed"
    assert entry["schedule_groups"][org.GROUP_SUPPORT_US]["next_opening_reason"] == "opens"
    assert "schedule_groups" not in entry["facts"]  # stated once
    rules = read_rules(rules_file)
    assert replay(log_path, rules).unchanged == 1
    # The org changed since (lunch now ends at 14:00): replay still decides from what was known.
    entry["schedule_groups"][org.GROUP_SUPPORT_US]["next_opening"] = "2026-12-07T19:00:00+00:00"
    log_path.write_text(json.dumps(entry) + "\n")
    changed = replay(log_path, rules)
    assert changed.changed == 1
    (example,) = next(iter(changed.changes.values()))
    assert example["differences"] == [
        "callbackScheduledTime: 2026-12-07T18:00:00Z -> 2026-12-07T19:00:00Z"
    ]


def test_emergency_when_the_paired_group_is_enabled_in_the_snapshot(rules_file: Path, tmp_path):
    document = json.loads((rules_file.parent / "org.json").read_text())
    for group in document["emergency_groups"]:
        group["enabled"] = True
    write_snapshot(document, tmp_path / "org.json")
    (tmp_path / "rules.toml").write_text(RULES)
    rules = read_rules(tmp_path / "rules.toml")
    from decision.engine import CallbackRequest

    decision = rules.decide(
        CallbackRequest(schedule_group_id=org.GROUP_SUPPORT_US), utc("2026-12-07T15:00:00Z")
    )
    assert MessageToDict(decision.patch)["data"] == {"hours": "closed"}
    assert "callbackScheduledTime" not in MessageToDict(decision.patch)


def test_check_refuses_an_emergency_pairing_it_cannot_find(rules_file: Path, tmp_path):
    (tmp_path / "org.json").write_text((rules_file.parent / "org.json").read_text())
    (tmp_path / "rules.toml").write_text(RULES.replace("Storm emergency US", "Storm"))
    from decision.engine import RulesError

    with pytest.raises(RulesError) as raised:
        read_rules(tmp_path / "rules.toml")
    assert raised.value.problems == [
        "genesys.emergency_groups: unknown emergency group 'Storm' (not in the org snapshot; "
        "known: 'Storm emergency US')"
    ]
