"""The answer check alone, in process: the check compiled from the contract against the
hand-written one it replaced, on the example rules' answer and on one with fields to drop."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict

from bench import hand_check
from bench.engine import summary
from decision.engine import CallbackRequest, parse_rules
from facade import answer_check

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HORIZON = timedelta(days=30)
RULES = Path(__file__).resolve().parent.parent / "examples" / "rules.toml"
Check = Callable[[dict[str, Any], datetime, timedelta], list[tuple[str, str]]]


def example_answer() -> dict[str, Any]:
    """What the example rules answer for TrueEngage's example webhook (a UK mobile)."""
    ruleset = parse_rules(RULES.read_text(), "examples")
    request = CallbackRequest(phone_number="07400123456", country_code="+44", widget_id="123")
    return MessageToDict(ruleset.decide(request, NOW).patch)


def _time_check(check: Check, body: dict[str, Any], rounds: int) -> list[float]:
    bodies = [copy.deepcopy(body) for _ in range(rounds + 200)]
    for warm in bodies[:200]:  # warm caches and the allocator
        check(warm, NOW, HORIZON)
    samples = []
    clock = time.perf_counter_ns
    for each in bodies[200:]:
        started = clock()
        check(each, NOW, HORIZON)
        samples.append((clock() - started) / 1000)
    return sorted(samples)


def contract_scenarios(rounds: int = 20_000) -> dict[str, dict[str, float]]:
    """Median and p99 per answer; `ratio` is the compiled check over the hand-written one."""
    good = example_answer()
    assert good.get("routingData"), "the example answer must exercise routingData"
    bad = copy.deepcopy(good)
    bad["callerId"] = "07400 123456"  # not E.164
    bad["routingData"]["priority"] = 30_000_000  # beyond Architect's scale
    results: dict[str, dict[str, float]] = {}
    for label, body in (("example answer", good), ("answer with 2 bad fields", bad)):
        expected = hand_check.enforce(copy.deepcopy(body), NOW, HORIZON)
        got = answer_check.enforce(copy.deepcopy(body), NOW, HORIZON)
        assert [f for f, _ in got] == [f for f, _ in expected], (got, expected)
        # Interleaved halves, so a noisy moment costs both checks alike.
        hand: list[float] = []
        compiled: list[float] = []
        for _ in range(2):
            hand += _time_check(hand_check.enforce, body, rounds // 2)
            compiled += _time_check(answer_check.enforce, body, rounds // 2)
        hand.sort()
        compiled.sort()
        before = summary(hand)
        after = summary(compiled)
        results[f"answer check, hand-written (before), {label}"] = before
        results[f"answer check, from the contract, {label}"] = {
            **after,
            "ratio": round(after["median_us"] / before["median_us"], 2),
        }
    return results
