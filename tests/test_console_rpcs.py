"""Explain, GetRules and ListDecisions against a real in-process grpc.aio server with the example
rules: what the operator console shows, and bad `at` values answered as the caller's error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from contract.v1 import decision_pb2, decision_pb2_grpc
from decision.service.servicer import DecisionServicer
from tests.conftest import EXAMPLE_RULES
from tests.in_process import EventLoopThread, InProcessDecision

UK_MOBILE = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
US_NUMBER = decision_pb2.DecideRequest(phone_number="2025550123", country_code="+1")


def with_service(
    services: EventLoopThread,
    scenario: Callable[[decision_pb2_grpc.DecisionServiceStub, DecisionServicer], Awaitable[None]],
    rules: Path = EXAMPLE_RULES,
) -> None:
    async def run(port: int, servicer: DecisionServicer) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await scenario(decision_pb2_grpc.DecisionServiceStub(channel), servicer)

    with InProcessDecision(services, rules) as decision:
        asyncio.run(run(decision.port, decision.servicer))


def test_explain_shows_every_rule_and_the_decision_without_counting_it(services):
    async def scenario(stub, servicer):
        explained = await stub.Explain(UK_MOBILE, timeout=5)
        traces = {trace.name: trace for trace in explained.rules}
        assert traces["uk-mobile"].matched
        assert traces["uk-mobile"].applied
        assert not traces["known-vip"].matched
        assert traces["known-vip"].failed_condition == "contact.tier"
        assert "uk-mobile" in explained.decision.matched_rules
        assert explained.decision.patch.queue_id
        assert explained.decision.facts.region == "GB"
        assert explained.decision.decision_id == ""  # nothing logged
        # The patch's ids with the names the rules give them ([names.*] of the example).
        assert explained.names[explained.decision.patch.queue_id] == "support-uk"
        assert servicer.recent.total == 0

    with_service(services, scenario)


def test_decisions_are_listed_newest_first_masked_and_filtered_by_rule(services):
    async def scenario(stub, servicer):
        await stub.Decide(UK_MOBILE, timeout=5)
        await stub.Decide(US_NUMBER, timeout=5)
        listed = (
            await stub.ListDecisions(decision_pb2.ListDecisionsRequest(), timeout=5)
        ).decisions
        assert [d.sequence for d in listed] == [2, 1]
        assert listed[1].request.phone_number == "*******3456"
        assert listed[1].response.facts.e164 == "*********3456"
        only_uk = await stub.ListDecisions(
            decision_pb2.ListDecisionsRequest(rule="uk-mobile"), timeout=5
        )
        assert [d.sequence for d in only_uk.decisions] == [1]
        newer = await stub.ListDecisions(
            decision_pb2.ListDecisionsRequest(after_sequence=1), timeout=5
        )
        assert [d.sequence for d in newer.decisions] == [2]

    with_service(services, scenario)


def test_get_rules_tells_the_live_file_and_counts_per_rule(services):
    async def scenario(stub, servicer):
        await stub.Decide(UK_MOBILE, timeout=5)
        await stub.Decide(UK_MOBILE, timeout=5)
        rules = await stub.GetRules(decision_pb2.GetRulesRequest(), timeout=5)
        assert rules.text == EXAMPLE_RULES.read_text()
        assert rules.version == servicer.rules.current.version
        assert rules.live_since.seconds > 0
        assert not rules.HasField("last_refused")
        counts = {c.rule: c.decisions for c in rules.rule_decisions}
        assert counts["uk-mobile"] == 2
        assert [c.rule for c in rules.rule_decisions] == [
            r.name for r in servicer.rules.current.rules
        ]
        assert rules.decisions == 2
        # The ids the file uses, with the names its [names.*] give them (the console shows
        # them beside the ids).
        assert rules.names["5a9d0c4e-1b2f-4c3d-8e5f-000000000001"] == "support-uk"

    with_service(services, scenario)


def test_a_refused_reload_is_reported_with_its_problems(services, tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text(EXAMPLE_RULES.read_text())

    async def scenario(stub, servicer):
        path.write_text('version = 1\n[[rules]]\nname = "broken"\nwhen = { regio = "GB" }\n')
        assert await servicer.rules.reload() is False
        rules = await stub.GetRules(decision_pb2.GetRulesRequest(), timeout=5)
        assert rules.text == EXAMPLE_RULES.read_text()  # the old rules stay live
        assert any("regio" in problem for problem in rules.last_refused.problems)

    with_service(services, scenario, path)


@pytest.mark.parametrize(
    "at",
    [
        Timestamp(seconds=-62135596801),
        Timestamp(seconds=253402300800),
        Timestamp(nanos=-1),
        Timestamp(seconds=-62135596800),  # year 1: the caller's local time would be before it
        Timestamp(seconds=253402300799),  # the last second of 9999: and after it
    ],
    ids=["before year 1", "after year 9999", "negative nanos", "year 1", "year 9999"],
)
def test_an_impossible_moment_is_the_callers_error(services, at):
    async def scenario(stub, servicer):
        request = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44", at=at)
        for call in (stub.Decide, stub.Explain):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await call(request, timeout=5)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert raised.value.details().startswith("at: not a valid timestamp")

    with_service(services, scenario)


def test_explain_tells_not_tried_from_not_matched_and_facts_carry_enums(services):
    """RuleTrace.outcome keeps the engine's three fates (`matched` alone folds "not tried" into
    "not matched"); CallerFacts' enums say what their strings say."""

    async def scenario(stub, servicer):
        explained = await stub.Explain(UK_MOBILE, timeout=5)
        trace = decision_pb2.RuleTrace
        fates = {rule.name: rule.outcome for rule in explained.rules}
        assert fates["uk-mobile"] == trace.OUTCOME_MATCHED
        assert fates["known-vip"] == trace.OUTCOME_NOT_MATCHED
        assert trace.OUTCOME_NOT_TRIED in fates.values()  # rules below the one that decided
        for rule in explained.rules:
            assert rule.matched == (rule.outcome == trace.OUTCOME_MATCHED)
        facts = explained.decision.facts
        assert (facts.number_type, facts.type) == ("mobile", decision_pb2.NUMBER_TYPE_MOBILE)
        assert facts.time_zone_source == "number"
        assert facts.zone_source == decision_pb2.TIME_ZONE_SOURCE_NUMBER

    with_service(services, scenario)
