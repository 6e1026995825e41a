"""Retry timing pieces of the remote handler: backoff, Retry-After, adaptive throttling."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infergraph.handlers.remote.breaker import CircuitBreaker
from infergraph.handlers.remote.retry import AdaptiveThrottler, Backoff, parse_retry_after


def test_backoff_is_full_jitter_under_a_growing_capped_ceiling() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0)
    assert [backoff.delay(n, lambda: 1.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.delay(3, lambda: 0.0) == 0.0
    assert backoff.delay(2, lambda: 0.25) == 0.5


def test_retry_after_is_a_floor() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0)
    assert backoff.delay(0, lambda: 1.0, retry_after_s=10.0) == 10.0
    assert backoff.delay(3, lambda: 1.0, retry_after_s=1.0) == 4.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("5", 5.0), (" 0.5 ", 0.5), ("-3", 0.0), ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
     ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0), ("soon", None), (None, None), ("", None)],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=lambda: now) == seconds


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_throttler_follows_the_formula_over_its_window() -> None:
    clock = Clock()
    throttler = AdaptiveThrottler(window_s=10, k=2, clock=clock, random=lambda: 0.99)
    for _ in range(3):
        throttler.record(accepted=True)
    for _ in range(9):
        throttler.record(accepted=False)
    # 12 requests, 3 accepted: (12 - 2*3) / 13.
    assert throttler.probability() == pytest.approx(6 / 13)
    assert not throttler.should_throttle()
    clock.now = 10.5  # everything left the window
    assert throttler.probability() == 0.0


def test_held_back_requests_count_as_requests() -> None:
    clock = Clock()
    throttler = AdaptiveThrottler(
        window_s=60, k=2, clock=clock, random=lambda: 0.0, min_rejects=1
    )
    assert not throttler.should_throttle()  # nothing seen yet: probability 0
    throttler.record(accepted=False)
    before = throttler.probability()
    assert throttler.should_throttle()
    assert throttler.probability() > before


def test_accepted_traffic_is_never_throttled() -> None:
    throttler = AdaptiveThrottler(window_s=60, k=2, clock=Clock(), random=lambda: 0.0)
    for _ in range(100):
        throttler.record(accepted=True)
    assert throttler.probability() == 0.0 and not throttler.should_throttle()


def test_a_few_stray_rejects_do_not_throttle() -> None:
    clock = Clock()
    throttler = AdaptiveThrottler(window_s=60, k=2, clock=clock, random=lambda: 0.0)
    for _ in range(4):
        throttler.record(accepted=False)
    assert throttler.probability() == pytest.approx(4 / 5)
    assert not throttler.should_throttle()
    throttler.record(accepted=False)
    assert throttler.should_throttle()


# -- the circuit breaker -----------------------------------------------------------------------


def test_breaker_counts_only_exhaustions_nothing_was_answered_during() -> None:
    clock = Clock()
    breaker = CircuitBreaker("u", failures=2, cooldown_s=10, clock=clock)
    breaker.answered(probe=False)  # at t=0
    breaker.exhausted(since=0.0)  # something answered since it started: a poison pill
    breaker.exhausted(since=0.0)
    assert breaker.state == "closed"
    clock.now = 1.0
    breaker.exhausted(since=0.5)
    breaker.exhausted(since=0.5)
    assert breaker.state == "open"
    probe, refusal = breaker.admit()
    assert not probe and refusal is not None and "probes the endpoint again in 10.0s" in refusal
    clock.now = 11.0
    assert breaker.admit() == (True, None)  # the one probe
    probe_refusal = breaker.admit()[1]
    assert probe_refusal is not None and "a probe request is in flight" in probe_refusal
    breaker.abandon(probe=True)  # it never reached the endpoint: another request may probe
    assert breaker.admit() == (True, None)
    breaker.answered(probe=True)
    assert breaker.state == "closed"
    assert breaker.counts() == {
        "breaker_opened": 1, "breaker_half_opened": 1, "breaker_closed": 1,
        "breaker_rejected": 2,
    }


def test_a_disabled_breaker_never_refuses_but_keeps_evidence() -> None:
    clock = Clock()
    breaker = CircuitBreaker("u", failures=1, cooldown_s=10, clock=clock, enabled=False)
    for _ in range(5):
        breaker.exhausted(since=clock.now)
    assert breaker.admit() == (False, None) and breaker.state == "closed"
    assert not breaker.answered_since(0.0)
    breaker.answered(probe=False)
    assert breaker.answered_since(0.0) and not breaker.answered_since(0.1)
