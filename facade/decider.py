"""Asks the decision service under a deadline and fails open: no visitor loses a callback
because routing was slow, down or overloaded."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from contract.client import DecisionClient
from contract.v1.decision_pb2 import DecideRequest, DecideResponse
from facade import metrics
from facade.answer import answer_body
from plumbing.tracing import Tracing

log = logging.getLogger("facade.decider")
DECIDE_SPAN = "decision.v1.DecisionService/Decide"


@dataclass
class Outcome:
    """The answer and what the access log says about it."""

    body: dict[str, Any]
    decision_id: str = ""
    matched_rules: list[str] = field(default_factory=list)
    rules_version: str = ""
    fail_open: str = ""  # why {} was answered without a decision, if it was


class FailOpenDecider:
    """Answers with the decided patch, or `{}` (create the callback unchanged) on any failure."""

    def __init__(
        self,
        client: DecisionClient,
        deadline: float,
        max_in_flight: int,
        horizon: timedelta,
        clock: Callable[[], float] = time.monotonic,
        tracing: Tracing | None = None,
    ) -> None:
        """`deadline`: seconds from a request's arrival to its answer; `clock` gives the
        monotonic seconds arrivals are stamped in (tests pass their own); `tracing`: the
        facade's, whose current span the decision service's spans continue."""
        self.client = client
        self.deadline = deadline
        self.max_in_flight = max_in_flight
        self.horizon = horizon
        self.clock = clock
        self.tracing = tracing or Tracing.off()
        self.in_flight = 0

    async def answer(
        self, request: DecideRequest, request_id: str, arrived: float | None = None
    ) -> Outcome:
        """`arrived`: when the request reached the facade (`clock` seconds); the decision gets
        what is left of the deadline since then. None: the whole deadline, from now."""
        timeout = self.deadline
        if arrived is not None:
            timeout -= self.clock() - arrived
            if timeout <= 0:
                # It waited its whole deadline before it could be asked (a backlog on the
                # event loop, a slow sender): a decision now would come after the caller's
                # deadline, and asking for it would make the backlog longer.
                metrics.FAIL_OPEN.labels("late").inc()
                return Outcome({}, fail_open="late")
        if self.in_flight >= self.max_in_flight:
            # Waiting in line would outlast the deadline anyway; answering at once keeps
            # memory flat under a flood.
            metrics.FAIL_OPEN.labels("overloaded").inc()
            return Outcome({}, fail_open="overloaded")
        self.in_flight += 1
        started = time.perf_counter()
        try:
            if self.tracing.enabled:
                response = await self._traced_decide(request, timeout, request_id)
            else:
                response = await self.client.decide(request, timeout=timeout, request_id=request_id)
        except grpc.aio.AioRpcError as error:
            reason = error.code().name.lower()
            metrics.FAIL_OPEN.labels(reason).inc()
            self.tracing.mark_failed(f"fail-open: {reason}")
            log.warning(
                "fail-open: answered {} without a decision",
                extra={
                    "request_id": request_id,
                    "reason": reason,
                    "detail": error.details(),
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return Outcome({}, fail_open=reason)
        finally:
            self.in_flight -= 1
        metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
        if not isinstance(response, DecideResponse):
            # grpc.aio hands back None for bytes that are not a DecideResponse (a wrong or
            # broken peer): that is no decision at all.
            metrics.FAIL_OPEN.labels("bad_response").inc()
            log.warning(
                "fail-open: the decision service's answer is not a DecideResponse",
                extra={"request_id": request_id},
            )
            return Outcome({}, fail_open="bad_response")
        try:
            body, dropped = answer_body(response.patch, datetime.now(UTC), self.horizon)
        except Exception:  # a bug here must cost the routing, not the callback
            metrics.FAIL_OPEN.labels("answer_error").inc()
            log.exception(
                "fail-open: the answer could not be shaped",
                extra={"request_id": request_id, "decision_id": response.decision_id},
            )
            return Outcome({}, fail_open="answer_error")
        for name, reason in dropped:
            metrics.DROPPED_FIELDS.labels(name).inc()
            log.warning(
                "answer field dropped",
                extra={
                    "request_id": request_id,
                    "field": name,
                    "reason": reason,
                    "decision_id": response.decision_id,
                    "rules_version": response.rules_version,
                },
            )
        return Outcome(
            body,
            response.decision_id,
            list(response.matched_rules),
            response.rules_version,
        )

    async def _traced_decide(
        self, request: DecideRequest, timeout: float, request_id: str
    ) -> DecideResponse:
        """The Decide call in a client span, whose context travels in the call's metadata."""
        with self.tracing.span(DECIDE_SPAN, client=True):
            return await self.client.decide(
                request, timeout=timeout, request_id=request_id, extra=self.tracing.headers()
            )
