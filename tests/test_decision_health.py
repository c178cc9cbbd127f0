"""The facade's view of the decision service's health (facade/decision_health.py): a stream that
breaks because the service closed an old connection (its --max-connection-age) is no outage, a
service that stays away is one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

import grpc

from facade.decision_health import DecisionHealth


def _broken() -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "GOAWAY received"
    )


class AgedOutClient:
    """Health.Watch as a service with a connection age gives it: SERVING, then the stream ends
    UNAVAILABLE when the connection is closed, then SERVING again on the next connection; after
    `streams` streams it never answers again (a service that went away)."""

    def __init__(self, streams: int) -> None:
        self.streams = streams
        self.opened = 0
        self.second_stream_open = asyncio.Event()

    async def watch_serving(self) -> AsyncGenerator[bool, None]:
        self.opened += 1
        if self.opened == 2:
            self.second_stream_open.set()
        if self.opened > self.streams:
            await asyncio.Event().wait()  # wait_for_ready: blocks while the service is away
        yield True
        if self.opened == 1:
            raise _broken()
        await asyncio.Event().wait()  # the second stream stays open


class Recorded(DecisionHealth):
    """Says when it has been told "not serving"."""

    def __init__(self, client: object, retry_seconds: float) -> None:
        super().__init__(client, retry_seconds)  # type: ignore[arg-type]
        self.not_serving = asyncio.Event()

    def _set(self, serving: bool, reason: str = "") -> None:
        super()._set(serving, reason)
        if not serving and reason:
            self.not_serving.set()


def test_a_connection_closed_for_its_age_is_no_outage(caplog):
    async def scenario() -> list[bool]:
        client = AgedOutClient(streams=2)
        health = DecisionHealth(client, retry_seconds=3600)  # only a second status can undo it
        seen: list[bool] = []
        health.start()
        await client.second_stream_open.wait()
        for _ in range(5):  # the second stream's SERVING is delivered
            seen.append(health.serving)
            await asyncio.sleep(0)
        await health.stop()
        return seen

    with caplog.at_level(logging.WARNING, logger="facade.decision_health"):
        seen = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert all(seen)
    assert not [r for r in caplog.records if "not serving" in r.getMessage()]


def test_a_service_that_stays_away_is_not_serving_after_the_retry_interval(caplog):
    async def scenario() -> bool:
        client = AgedOutClient(streams=1)
        health = Recorded(client, retry_seconds=0.01)
        health.start()
        await client.second_stream_open.wait()
        await health.not_serving.wait()  # the lapse, after retry_seconds of nothing heard
        await health.stop()
        return health.serving

    with caplog.at_level(logging.WARNING, logger="facade.decision_health"):
        assert asyncio.run(asyncio.wait_for(scenario(), 10)) is False
    (warning,) = [r for r in caplog.records if "not serving" in r.getMessage()]
    assert "unavailable" in warning.getMessage()
