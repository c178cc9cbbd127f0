"""What one gRPC call may cost the decision service is bounded (issue: 300 Decide calls with 4 MB
attributes took it from 221 MB to 1.29 GB; 500 webhooks of 9.4 KB made ListDecisions fail past
gRPC's 4 MiB message limit; 30 parallel console callers made webhook answers fail open): calls
carry what a webhook may, console replies are pages, the console's calls have their own budget,
and a rules file has a supported size. Real grpc.aio servers as `decision serve` builds them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from contract.v1 import decision_pb2, decision_pb2_grpc
from decision.engine import CONTACT, RulesError
from decision.rules.live import MAX_RULES_BYTES, LiveRules, read_rules
from decision.service.budgets import CONSOLE_CALLS, WaitingBudget
from decision.service.grpc_server import build_server, start_serving
from decision.service.recent import PAGE_BYTES
from decision.service.servicer import DecisionServicer
from tests.conftest import EXAMPLE_RULES

UK_MOBILE = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
GRPC_LIMIT = 4 * 1024 * 1024


def serve(
    servicer: DecisionServicer,
    scenario: Callable[[decision_pb2_grpc.DecisionServiceStub], Awaitable[None]],
) -> None:
    async def run() -> None:
        server, health = build_server(servicer)
        port = server.add_insecure_port("127.0.0.1:0")
        await start_serving(server, health)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                await scenario(decision_pb2_grpc.DecisionServiceStub(channel))
        finally:
            await server.stop(None)

    asyncio.run(run())


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"phone_number": "1" * 33}, "phone_number is longer than 32 characters"),
        ({"queue_id": "q" * 65}, "queue_id is longer than 64 characters"),
        ({"attributes": {f"k{i}": "v" for i in range(33)}}, "more than 32 attributes"),
        ({"attributes": {"note": "x" * 1025}}, "values at most 1024"),
        ({"attributes": {"k" * 65: "v"}}, "names are at most 64"),
    ],
)
def test_a_call_carrying_more_than_a_webhook_may_is_invalid_argument(change, reason):
    async def scenario(stub):
        request = decision_pb2.DecideRequest(phone_number="07400123456", country_code="+44")
        for key, value in change.items():
            if key == "attributes":
                request.attributes.update(value)
            else:
                setattr(request, key, value)
        for method in (stub.Decide, stub.Explain):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await method(request, timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert reason in refused.value.details()
        assert (await stub.Decide(UK_MOBILE, timeout=10)).matched_rules

    serve(DecisionServicer(LiveRules(EXAMPLE_RULES)), scenario)


def test_a_message_past_the_request_limit_is_refused_before_it_is_read():
    async def scenario(stub):
        request = decision_pb2.DecideRequest(phone_number="07400123456")
        request.attributes["huge"] = "x" * (4 * 1024 * 1024 - 100)  # under gRPC's own limit
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Decide(request, timeout=10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    servicer = DecisionServicer(LiveRules(EXAMPLE_RULES))
    serve(servicer, scenario)
    assert servicer.recent.total == 0


def test_recent_decisions_come_in_pages_under_the_message_limit():
    """500 decisions of ~9.4 KB: one reply would be 4.9 MB, past gRPC's 4 MiB."""

    async def scenario(stub):
        for number in range(500):
            request = decision_pb2.DecideRequest(
                phone_number=f"0740{number:07d}", country_code="+44"
            )
            request.attributes.update({f"field{i}": "x" * 1000 for i in range(9)})
            await stub.Decide(request, timeout=10)
        seen: list[int] = []
        before = 0
        while True:
            page = await stub.ListDecisions(
                decision_pb2.ListDecisionsRequest(before_sequence=before), timeout=10
            )
            assert page.ByteSize() <= PAGE_BYTES < GRPC_LIMIT
            seen += [d.sequence for d in page.decisions]
            if not page.more:
                break
            before = page.decisions[-1].sequence
        assert seen == list(range(500, 0, -1))  # every one, newest first, none twice

    serve(DecisionServicer(LiveRules(EXAMPLE_RULES)), scenario)


class HeldContacts:
    """A contact provider that holds every lookup of a request with attribute `hold` until
    `release` is set; others answer at once (unknown)."""

    fact = CONTACT
    name = "held contacts"
    health = None

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.all_held = asyncio.Event()  # CONSOLE_CALLS lookups are being held
        self.held = 0

    async def provide(self, request: Any, default_region: str) -> tuple[Any, str]:
        if "hold" in request.attributes:
            self.held += 1
            if self.held == CONSOLE_CALLS:
                self.all_held.set()
            await self.release.wait()
        return None, ""

    def describe(self, value: Any, facts: decision_pb2.CallerFacts) -> None:
        facts.contact_known = value is not None


def test_console_calls_have_their_own_budget_and_never_hold_decide():
    held = HeldContacts()

    async def scenario(stub):
        hold = decision_pb2.DecideRequest(phone_number="07400654321", country_code="+44")
        hold.attributes["hold"] = "1"
        busy = [asyncio.ensure_future(stub.Explain(hold, timeout=30)) for _ in range(CONSOLE_CALLS)]
        await held.all_held.wait()  # each has reached the provider
        for call in (
            stub.Explain(UK_MOBILE, timeout=10),
            stub.GetRules(decision_pb2.GetRulesRequest(), timeout=10),
            stub.ListDecisions(decision_pb2.ListDecisionsRequest(), timeout=10),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await stub.Decide(UK_MOBILE, timeout=10)).matched_rules  # never waits
        held.release.set()
        assert all(explained.rules for explained in await asyncio.gather(*busy))
        assert (await stub.GetRules(decision_pb2.GetRulesRequest(), timeout=10)).version

    servicer = DecisionServicer(LiveRules(EXAMPLE_RULES), providers=[held])
    servicer.console = WaitingBudget(CONSOLE_CALLS, 0, 0)  # no waiting: refused at once
    serve(servicer, scenario)


def big_rules(size: int) -> str:
    """A valid file of about `size` bytes; rules padded with descriptions, so few to compile."""
    rule = (
        '[[rules]]\nname = "r{n}"\ndescription = "' + "d" * 2000 + '"\n'
        'when = {{ widget_id = "w{n}" }}\nthen = {{ priority = 1 }}\n'
    )
    parts, total, n = ["version = 1\n"], 12, 0
    while total < size:
        parts.append(rule.format(n=n))
        total += len(parts[-1])
        n += 1
    text = "".join(parts)
    while len(text.encode()) > size:  # `size` bytes at most
        text = text[: text.rindex("[[rules]]")]
    return text


def test_a_rules_file_past_the_supported_size_is_refused_in_one_line(tmp_path: Path):
    path = tmp_path / "rules.toml"
    path.write_text(big_rules(MAX_RULES_BYTES + 3000))
    assert path.stat().st_size > MAX_RULES_BYTES
    with pytest.raises(RulesError) as refused:
        read_rules(path)
    assert refused.value.problems == [
        "larger than the supported size of 2 MiB (about 12,000 rules)"
    ]


def test_the_largest_supported_file_is_shown_whole_by_get_rules_and_explain(tmp_path: Path):
    from contract.client import DecisionClient

    path = tmp_path / "rules.toml"
    path.write_text(big_rules(MAX_RULES_BYTES))
    servicer = DecisionServicer(LiveRules(path))

    async def run() -> None:
        server, health = build_server(servicer)
        port = server.add_insecure_port("127.0.0.1:0")
        await start_serving(server, health)
        client = DecisionClient(f"127.0.0.1:{port}", timeout=30)
        try:
            reply = await client.get_rules()
            assert reply.text == path.read_text()
            assert len(reply.rule_decisions) == len(servicer.rules.current.rules)
            explained = await client.explain(UK_MOBILE)
            assert len(explained.rules) == len(reply.rule_decisions)
        finally:
            await client.close()
            await server.stop(None)

    asyncio.run(run())
