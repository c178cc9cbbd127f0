"""One Decide through the decision service's servicer, in process (no gRPC): what the service
does per call beyond the engine (the request's facts, the reply and its facts, the recent window,
the access line, the counters), against the engine alone on the same rules and request."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from bench.engine import summary, time_decisions
from contract.v1.decision_pb2 import DecideRequest
from decision.engine import CallbackRequest, parse_rules
from decision.rules.live import LiveRules
from decision.service.servicer import DecisionServicer
from plumbing.logs import AccessLog

RULES = Path(__file__).resolve().parent.parent / "examples" / "rules.toml"


class _Context:
    """What Decide reads of a grpc.aio context: the metadata (a facade's request id)."""

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("x-request-id", "bench-request"),)

    async def abort(self, code: Any, details: str) -> None:
        raise RuntimeError(f"{code}: {details}")


async def _time_decide(message: DecideRequest, rounds: int, access_log: AccessLog) -> list[float]:
    servicer = DecisionServicer(LiveRules(RULES), access_log=access_log)
    context = _Context()
    for _ in range(200):  # warm caches and the allocator
        await servicer.Decide(message, context)  # type: ignore[arg-type]
    samples = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        started = clock()
        await servicer.Decide(message, context)  # type: ignore[arg-type]
        samples.append((clock() - started) / 1000)
    return samples


def decide_scenarios(message: DecideRequest, rounds: int = 20_000) -> dict[str, dict[str, float]]:
    """The engine alone and a whole Decide, on the example rules and `message`."""
    ruleset = parse_rules(RULES.read_text(), "examples")
    request = CallbackRequest(
        phone_number=message.phone_number,
        country_code=message.country_code,
        widget_id=message.widget_id,
        queue_id=message.queue_id,
    )
    engine = time_decisions(ruleset, request, rounds)
    with open(os.devnull, "w") as null:  # the access lines are written, to nowhere
        access_log = AccessLog("decision", stream=null)
        decide = asyncio.run(_time_decide(message, rounds, access_log))
        access_log.flush()
    alone = summary(engine)
    whole = summary(sorted(decide))
    return {
        "engine alone, example rules": alone,
        "Decide in process (no gRPC), example rules": {
            **whole,
            "ratio": round(whole["median_us"] / alone["median_us"], 2),
        },
    }
