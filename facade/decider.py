"""Asks the decision service under a deadline and fails open: no visitor loses a callback
because routing was slow or down."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc

from decision.client import DecisionClient
from decision.v1.decision_pb2 import DecideRequest
from facade.answer import answer_body

log = logging.getLogger("facade.decider")


class FailOpenDecider:
    """Answers with the decided patch, or `{}` (create the callback unchanged) on any failure."""

    def __init__(self, client: DecisionClient, deadline: float) -> None:
        self.client = client
        self.deadline = deadline
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def answer(self, request: DecideRequest, request_id: str) -> dict[str, Any]:
        self.in_flight += 1
        self._idle.clear()
        started = time.monotonic()
        try:
            response = await self.client.decide(
                request, timeout=self.deadline, request_id=request_id
            )
        except grpc.aio.AioRpcError as error:
            log.warning(
                "fail-open: request %s answered {} after %.0f ms: %s %s",
                request_id,
                (time.monotonic() - started) * 1000,
                error.code().name,
                error.details(),
            )
            return {}
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()
        return answer_body(response.patch)

    async def drained(self, timeout: float) -> bool:
        """Waits until no decision is in flight (graceful shutdown)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
