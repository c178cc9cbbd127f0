"""The engine alone, in process: one decision's cost at 10, 1,000 and 10,000 rules, a decision
that also evaluates a schedule group of 20 schedules, one that reads the live Genesys state, and
the number-facts cache."""

from __future__ import annotations

import functools
import statistics
import time
from datetime import UTC, datetime

from decision.engine import (
    CallbackRequest,
    RuleSet,
    RulesInput,
    explain,
    number_facts,
    parse_rules,
)
from decision.engine.schedules import ScheduleGroup, evaluate, groups_from_snapshot

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


def time_decisions(
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


def summary(samples: list[float]) -> dict[str, float]:
    """Median and p99 of `samples`, sorted."""
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
        results[f"engine, {count:,} rules"] = summary(time_decisions(ruleset, request, rounds))
        if count == 10_000:
            scan = time_decisions(ruleset, request, max(rounds // 100, 50), traced=True)
            results["engine, 10,000 rules, linear scan (explain)"] = summary(scan)
    results.update(schedule_group_scenario(rounds))
    results.update(live_state_scenario(rounds))
    return results


def schedule_group_of_20() -> ScheduleGroup:
    """A busy group: split weekday shifts, weekend mornings, closed meetings, yearly holidays,
    one-time closures; every list has some schedule whose first occurrence is years back."""
    weekly = "FREQ=WEEKLY;BYDAY="
    rows = [
        ("open", "2020-01-06T08:00:00", "2020-01-06T12:00:00", weekly + "MO,TU,WE,TH,FR"),
        ("open", "2020-01-06T13:00:00", "2020-01-06T18:00:00", weekly + "MO,TU,WE,TH,FR"),
        ("open", "2026-01-03T09:00:00", "2026-01-03T13:00:00", weekly + "SA"),
        ("open", "2026-01-04T10:00:00", "2026-01-04T12:00:00", weekly + "SU"),
        ("open", "2026-01-05T18:00:00", "2026-01-05T20:00:00", weekly + "MO,WE"),
        ("open", "2026-01-06T18:00:00", "2026-01-06T19:00:00", weekly + "TU,TH"),
        ("open", "2026-01-05T22:00:00", "2026-01-06T06:00:00", "FREQ=DAILY"),
        ("open", "2026-12-31T09:00:00", "2026-12-31T12:00:00", ""),
        ("closed", "2026-01-07T08:00:00", "2026-01-07T10:00:00", weekly + "WE"),
        ("closed", "2026-01-05T12:00:00", "2026-01-05T13:00:00", weekly + "MO,TU,WE,TH,FR"),
        ("closed", "2026-01-01T16:00:00", "2026-01-01T17:00:00", "FREQ=MONTHLY;BYMONTHDAY=1"),
        ("closed", "2026-06-15T09:00:00", "2026-06-15T17:00:00", ""),
        ("closed", "2026-01-09T15:00:00", "2026-01-09T18:00:00", weekly + "FR;INTERVAL=2"),
        ("closed", "2026-11-26T08:00:00", "2026-11-27T00:00:00", ""),
        (
            "holiday",
            "2020-12-25T00:00:00",
            "2020-12-26T00:00:00",
            "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25",
        ),
        (
            "holiday",
            "2020-12-26T00:00:00",
            "2020-12-27T00:00:00",
            "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=26",
        ),
        (
            "holiday",
            "2020-01-01T00:00:00",
            "2020-01-02T00:00:00",
            "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1",
        ),
        ("holiday", "2026-04-03T00:00:00", "2026-04-04T00:00:00", ""),
        ("holiday", "2026-04-06T00:00:00", "2026-04-07T00:00:00", ""),
        ("holiday", "2026-08-31T00:00:00", "2026-09-01T00:00:00", ""),
    ]
    ids = [f"s{i}" for i in range(len(rows))]
    document = {
        "schedule_groups": [
            {
                "id": "uk-hours",
                "name": "UK hours",
                "state": "active",
                "time_zone": "Europe/London",
                **{
                    k: [i for i, r in zip(ids, rows, strict=True) if r[0] == k]
                    for k in ("open", "closed", "holiday")
                },
            }
        ],
        "schedules": [
            {"id": i, "name": i, "state": "active", "start": r[1], "end": r[2], "rrule": r[3]}
            for i, r in zip(ids, rows, strict=True)
        ],
    }
    return groups_from_snapshot(document)["uk-hours"]


def schedule_group_scenario(rounds: int = 20_000) -> dict[str, dict[str, float]]:
    """The same decision by rules that ask about the request's schedule group (20 schedules)
    and by the same rules without that question, sampled in turn so that the machine's noise
    falls on both. At NOW the group is closed for lunch: the asking rule does not match, and
    the decision goes on to the rule both files share, so the difference is the question."""
    group = schedule_group_of_20()
    assert evaluate(group, NOW).active, "a schedule must decide the bench group at NOW (lunch)"
    org = RulesInput("bench org", "bench", schedule_groups={group.id: group})
    asking_rule = (
        '[[rules]]\nname = "holidays"\nwhen = { schedule_group = ["holiday", "emergency"] }\n'
        'then = { queue = "q1", schedule = "next open" }\n'
    )
    text = generated_rules(10)
    head, _, tail = text.partition("[[rules]]")
    asking = parse_rules(head + asking_rule + "[[rules]]" + tail, "asking", inputs=[org])
    plain = parse_rules(text, "generated-10", inputs=[org])
    request = CallbackRequest(
        phone_number="07400123456", country_code="+44", widget_id="w0", schedule_group_id=group.id
    )
    decided = asking.decide(request, NOW)
    assert decided.matched_rules == plain.decide(request, NOW).matched_rules == ["rule-0"]
    assert decided.derived, "the asking rules must evaluate the group"
    asked, without = asking.decide, plain.decide
    for _ in range(200):
        asked(request, NOW)
        without(request, NOW)
    clock = time.perf_counter_ns
    plain_samples: list[float] = []
    asked_samples: list[float] = []
    for _ in range(rounds):
        started = clock()
        without(request, NOW)
        middle = clock()
        asked(request, NOW)
        plain_samples.append((middle - started) / 1000)
        asked_samples.append((clock() - middle) / 1000)
    return {
        "engine, 10 rules, no schedule group": summary(sorted(plain_samples)),
        "engine, 10 rules asking a schedule group of 20 schedules": summary(sorted(asked_samples)),
    }


LIVE_RULES = """
[names.agents]
alice = "7c0e5b3a-1111-4222-8333-000000000001"
bob = "7c0e5b3a-1111-4222-8333-000000000002"
[[rules]]
name = "overflow"
when = { widget_id = "w0", queue_load = { queue = "q1", waiting = { above = 5 } } }
then = { queue = "q2" }
[[rules]]
name = "managers"
when = { widget_id = "w0", queue_load = { queue = "q0", agents_idle = { above = 0 } } }
then = { preferred_agents = ["alice", "bob"], agents_on_queue_only = true }
continue = true
"""


def live_state_scenario(rounds: int = 20_000) -> dict[str, dict[str, float]]:
    """The same decision with and without reading the live state (issue 20), sampled in turn:
    two queue_load conditions and agents_on_queue_only over two agents, the view made per
    decision as the service's provider makes it."""
    from decision.engine import OutsideFacts
    from decision.engine.live import LIVE, AgentStatus, Learned, LiveState, LiveView, QueueLoad

    def with_rules(extra: str, name: str) -> RuleSet:
        names, rules = extra.split("[[rules]]", 1)
        text = generated_rules(10).replace("[defaults]", f"{names}[defaults]", 1)
        return parse_rules(text.replace("[[rules]]", f"[[rules]]{rules}[[rules]]", 1), name)

    live_rules = with_rules(LIVE_RULES, "live")
    # The same rules and the same answer's shape, reading nothing live: the first rule fails
    # on a fact of the number instead, the second matches without the live condition and
    # keeps both agents.
    plain_rules = with_rules(
        LIVE_RULES.replace(
            'queue_load = { queue = "q1", waiting = { above = 5 } }', "valid = false"
        )
        .replace(', queue_load = { queue = "q0", agents_idle = { above = 0 } }', "")
        .replace(", agents_on_queue_only = true", ""),
        "plain",
    )
    queue = "5a9d0c4e-1b2f-4c3d-8e5f-{:012d}"
    state = LiveState(
        {queue.format(i): QueueLoad(2, 1, 3, 1, None, 0.0) for i in range(10)},
        {
            "7c0e5b3a-1111-4222-8333-000000000001": AgentStatus("OFF_QUEUE", 0.0),
            "7c0e5b3a-1111-4222-8333-000000000002": AgentStatus("IDLE", 0.0),
        },
    )
    learned = Learned()
    request = CallbackRequest(phone_number="07400123456", country_code="+44", widget_id="w0")
    decided = live_rules.decide(request, NOW, OutsideFacts({LIVE: LiveView(state, 1, 30, learned)}))
    assert decided.matched_rules == ["managers", "rule-0"], decided.matched_rules
    assert list(decided.patch.routing_data.preferred_agent_ids) == [
        "7c0e5b3a-1111-4222-8333-000000000002"
    ]

    def with_live() -> None:
        live_rules.decide(request, NOW, OutsideFacts({LIVE: LiveView(state, 1.0, 30.0, learned)}))

    def without() -> None:
        plain_rules.decide(request, NOW)

    for _ in range(200):
        with_live()
        without()
    clock = time.perf_counter_ns
    plain: list[float] = []
    live: list[float] = []
    for _ in range(rounds):
        for run, samples in ((without, plain), (with_live, live)):
            started = clock()
            run()
            samples.append((clock() - started) / 1000)
    return {
        "engine, 12 rules, no live state": summary(sorted(plain)),
        "engine, 12 rules, reading live state (2 queues, 2 agents)": summary(sorted(live)),
    }


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
