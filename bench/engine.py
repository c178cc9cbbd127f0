"""The engine alone, in process: one decision's cost at 10, 1,000 and 10,000 rules, and the
number-facts cache."""

from __future__ import annotations

import functools
import statistics
import time
from datetime import UTC, datetime

from decision.engine import CallbackRequest, RuleSet, explain, number_facts, parse_rules

REGIONS = [
    "GB",
    "US",
    "CA",
    "FR",
    "DE",
    "ES",
    "IT",
    "NL",
    "BE",
    "IE",
    "SE",
    "NO",
    "DK",
    "FI",
    "PL",
    "PT",
    "AT",
    "CH",
    "AU",
    "NZ",
]
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def generated_rules(count: int) -> str:
    """A rules file shaped like a large deployment: most rules per widget or queue, a tenth per
    region with office hours, and a percentage catch-all at the end."""
    lines = ["version = 1", "[names.queues]"]
    lines += [f'q{i} = "5a9d0c4e-1b2f-4c3d-8e5f-{i:012d}"' for i in range(10)]
    lines += [
        "[names.skills]",
        'english = "0b6f7a10-aaaa-4bbb-8ccc-000000000001"',
        "[defaults]",
        'timezone = "Europe/London"',
        'data = { routed_by = "bench" }',
    ]
    for i in range(count - 1):
        kind = i % 10
        if kind < 8:
            when = f'{{ widget_id = "w{i}", number_type = ["mobile", "fixed_line"] }}'
        elif kind == 8:
            when = f'{{ queue_id = "q{i % 10}", widget_id = ["x{i}", "y{i}"] }}'
        else:
            region = REGIONS[(i // 10) % len(REGIONS)]
            when = (
                f'{{ region = "{region}", widget_id = "r{i}", '
                'local_time = { in = "mon-fri 09:00-17:00" } }'
            )
        lines += [
            "[[rules]]",
            f'name = "rule-{i}"',
            f"when = {when}",
            f'then = {{ queue = "q{i % 10}", skills = ["english"], priority = {i % 100} }}',
        ]
    lines += [
        "[[rules]]",
        'name = "catch-all"',
        "when = { percent = 50 }",
        'then = { queue = "q0" }',
    ]
    return "\n".join(lines) + "\n"


def _time_decisions(
    ruleset: RuleSet, request: CallbackRequest, rounds: int, traced: bool = False
) -> list[float]:
    # Traced, decide tries every rule in file order: the cost of a linear scan.
    decide = functools.partial(explain, ruleset) if traced else ruleset.decide
    for _ in range(200):  # warm caches and the allocator
        decide(request, NOW)
    samples = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        started = clock()
        decide(request, NOW)
        samples.append((clock() - started) / 1000)
    return sorted(samples)


def _summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_us": round(statistics.median(samples), 2),
        "p99_us": round(samples[int(len(samples) * 0.99)], 2),
    }


def engine_scenarios(rounds: int = 20_000) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for count in (10, 1_000, 10_000):
        ruleset = parse_rules(generated_rules(count), f"generated-{count}")
        # A widget in the middle of the file, so a linear scan would pay for half of it.
        request = CallbackRequest(
            phone_number="07400123456", country_code="+44", widget_id=f"w{(count // 2) // 10 * 10}"
        )
        assert ruleset.decide(request, NOW).matched_rules, "bench request must match a rule"
        results[f"engine, {count:,} rules"] = _summary(_time_decisions(ruleset, request, rounds))
        if count == 10_000:
            scan = _time_decisions(ruleset, request, max(rounds // 100, 50), traced=True)
            results["engine, 10,000 rules, linear scan (explain)"] = _summary(scan)
    return results


def number_cache_scenario(rounds: int = 5_000) -> dict[str, dict[str, float]]:
    numbers = [f"07400{n:06d}" for n in range(rounds)]
    number_facts.cache_clear()
    started = time.perf_counter_ns()
    for number in numbers:
        number_facts(number, "+44")
    first = (time.perf_counter_ns() - started) / 1000 / rounds
    started = time.perf_counter_ns()
    for number in numbers:
        number_facts(number, "+44")
    again = (time.perf_counter_ns() - started) / 1000 / rounds
    return {
        "number facts, first parse": {"median_us": round(first, 2)},
        "number facts, same number again": {"median_us": round(again, 2)},
    }
