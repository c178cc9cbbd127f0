"""The per-address budget for failed authentications, on a clock the test turns by hand."""

from __future__ import annotations

from facade.rate_limit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_the_wait_is_announced():
    clock = Clock()
    limiter = RateLimiter(rate=0.5, burst=3, clock=clock)
    assert [limiter.retry_after("203.0.113.7") for _ in range(4)] == [0, 0, 0, 2]


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst():
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=2, clock=clock)
    assert [limiter.retry_after("a") for _ in range(3)] == [0, 0, 1]
    clock.now += 0.5  # one token back
    assert [limiter.retry_after("a") for _ in range(2)] == [0, 1]
    clock.now += 3600  # an hour idle still refills only to the burst
    assert [limiter.retry_after("a") for _ in range(3)] == [0, 0, 1]


def test_a_refused_request_spends_nothing():
    clock = Clock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    assert limiter.retry_after("a") == 0
    for _ in range(10):
        assert limiter.retry_after("a") == 1
    clock.now += 1
    assert limiter.retry_after("a") == 0


def test_the_wait_is_whole_seconds_rounded_up():
    clock = Clock()
    limiter = RateLimiter(rate=0.25, burst=1, clock=clock)
    limiter.retry_after("a")
    assert limiter.retry_after("a") == 4
    clock.now += 1.5
    assert limiter.retry_after("a") == 3  # 2.5 s to go


def test_addresses_have_their_own_buckets():
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == 1
    assert limiter.retry_after("b") == 0


def test_rate_zero_means_no_limit():
    limiter = RateLimiter(rate=0, burst=1, clock=Clock())
    assert {limiter.retry_after("a") for _ in range(1000)} == {0}


def test_memory_is_bounded_and_a_forgotten_address_starts_full():
    limiter = RateLimiter(rate=1, burst=1, max_clients=2, clock=Clock())
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == 1
    limiter.retry_after("b")
    limiter.retry_after("c")  # three addresses, room for two: "a", seen longest ago, goes
    assert limiter.retry_after("a") == 0
