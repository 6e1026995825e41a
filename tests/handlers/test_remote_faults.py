"""Fault injection against the loopback server: every input ends as one result, in bounded time."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

import infergraph as ig
from infergraph.handlers.remote import RemoteHandler
from tests.handlers.remote_server import Action, PredictionServer, status


def check_invariants(data: Sequence[tuple[Any, Any]], results: Sequence[Any]) -> None:
    """Inputs = predictions + failures, keys once each and in order, a message on every failure."""
    assert len(results) == len(data)
    assert [r.key for r in results] == [key for key, _ in data]
    for result in results:
        assert isinstance(result, ig.Prediction | ig.Failure)
        if isinstance(result, ig.Failure):
            assert result.error_type and result.stage == "run"
            assert f"for key {result.key!r}: " in result.message
            assert len(result.message) > len(f"run failed in handler for key {result.key!r}: ")


def doubled(data: Sequence[tuple[Any, Any]], results: Sequence[Any]) -> dict[Any, Any]:
    """The keys whose prediction is right (the server doubles numbers)."""
    values = dict(data)
    return {
        r.key: r.output for r in results
        if isinstance(r, ig.Prediction) and r.output == 2 * values[r.key]
    }


FAST = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "timeout_s": 0.5, "deadline_s": 2.0}

# (faults the server answers with, in order; how many examples fail; what their errors say)
CASES: dict[str, tuple[list[Action], int, str]] = {
    "429 with Retry-After": ([status(429, Retry_After="0.05")] * 3, 0, ""),
    "429 without Retry-After": ([status(429)] * 3, 0, ""),
    "503 with Retry-After": ([status(503, Retry_After="0")] * 2, 0, ""),
    "500, 502, 504": ([status(500), status(502), status(504)], 0, ""),
    "connection resets": ([Action("reset")] * 3, 0, ""),
    "slow answer": ([Action("slow", delay_s=1.0)], 0, ""),
    "trickling answer": ([Action("trickle", delay_s=0.05, size=400)], 8, "deadline"),
    "200 with an error body": ([Action("error_body", message="model crashed")], 8, "crashed"),
    "wrong prediction count": ([Action("short")], 8, "returned 7 predictions for 8"),
    "413": ([status(413, "payload too large")], 0, ""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_faults_keep_every_input_once_in_bounded_time(case: str) -> None:
    faults, failing, says = CASES[case]
    data = [(f"k{i}", i) for i in range(40)]
    with PredictionServer() as srv:
        srv.script(*faults)
        handler = RemoteHandler(
            protocol="tf_serving", endpoint=srv.url, model="m", max_instances_per_request=8,
            concurrency=5, **FAST,
        )
        start = time.monotonic()
        results = list(ig.predict(handler, data))
        elapsed = time.monotonic() - start
    check_invariants(data, results)
    failures = [r for r in results if isinstance(r, ig.Failure)]
    assert len(failures) == failing
    assert all(says in f.message for f in failures)
    assert len(doubled(data, results)) == len(data) - failing
    # One batch: its deadline, one read timeout past it at most, and slack for a busy machine.
    assert elapsed < FAST["deadline_s"] + FAST["timeout_s"] + 3


def test_deadline_bounds_a_trickling_answer() -> None:
    with PredictionServer() as srv:
        srv.script(*[Action("trickle", delay_s=0.3, size=60)] * 2)
        handler = RemoteHandler(
            protocol="tf_serving", endpoint=srv.url, model="m", timeout_s=1, deadline_s=3,
            max_attempts=2, backoff_initial_s=0.01,
        )
        start = time.monotonic()
        (result,) = ig.predict(handler, [("k", 1)])
        elapsed = time.monotonic() - start
    assert isinstance(result, ig.Failure) and result.key == "k"
    assert result.error_type == "EndpointUnavailableError"
    assert "still arriving at the deadline" in result.message
    assert "The batch's deadline passed (deadline_s=3): check the endpoint" in result.message
    # The deadline, plus at most one read timeout, plus slack for a busy machine.
    assert elapsed < 3 + 1 + 2


def test_deadline_bounds_trickling_headers() -> None:
    with PredictionServer() as srv:
        srv.script(Action("trickle_headers", delay_s=0.1, size=100))
        handler = RemoteHandler(
            protocol="tf_serving", endpoint=srv.url, model="m", timeout_s=1, deadline_s=2,
        )
        start = time.monotonic()
        (result,) = ig.predict(handler, [("k", 1)])
        elapsed = time.monotonic() - start
    assert isinstance(result, ig.Failure) and result.error_type == "EndpointUnavailableError"
    assert "at the deadline" in result.message
    assert elapsed < 2 + 2


# -- poison pills ----------------------------------------------------------------------------


class FakeTime:
    """A clock that only moves when something sleeps (or a test moves it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def lock_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests move a fake clock from inside the data source, between two elements: each
    chunk must run before the source goes on, not one chunk ahead (see core.ahead)."""
    monkeypatch.setenv("INFERGRAPH_OVERLAP", "0")


def fake_timed(server: PredictionServer, **options: Any) -> tuple[RemoteHandler, FakeTime]:
    fake = FakeTime()
    defaults: dict[str, Any] = {"protocol": "tf_serving", "endpoint": server.url, "model": "m"}
    handler = RemoteHandler(
        clock=fake.clock, sleep=fake.sleep, random=lambda: 0.5, **{**defaults, **options}
    )
    return handler, fake


def test_a_poison_pill_fails_alone() -> None:
    data = [(i, "crash" if i == 5 else i) for i in range(16)]
    with PredictionServer() as srv:
        handler, _ = fake_timed(srv, max_instances_per_request=16, max_attempts=3)
        observer = handler.load()
        results = list(ig.predict(handler, data))
    check_invariants(data, results)
    failures = [r for r in results if isinstance(r, ig.Failure)]
    assert [(f.key, f.error_type) for f in failures] == [(5, "RequestRejectedError")]
    assert "answered HTTP 500 to this instance alone" in failures[0].message
    assert "while it answered other requests" in failures[0].message
    assert sorted(doubled(data, results)) == [i for i in range(16) if i != 5]
    # 3 attempts, then 4 levels of halves: far fewer requests than retrying every instance.
    assert len(srv.seen) <= 3 + 4 * (2 + 1)
    assert observer.metrics()["breaker_state"] == "closed"


def test_poison_pills_among_concurrent_requests() -> None:
    data = [(i, "crash" if i in (3, 20) else i) for i in range(32)]
    with PredictionServer() as srv:
        handler, _ = fake_timed(srv, max_instances_per_request=8, concurrency=4)
        results = list(ig.predict(handler, data))
    check_invariants(data, results)
    assert [r.key for r in results if isinstance(r, ig.Failure)] == [3, 20]
    assert len(doubled(data, results)) == 30


def test_an_outage_answering_500_is_not_bisected_into_a_storm() -> None:
    data = [(i, i) for i in range(16)]
    with PredictionServer() as srv:
        srv.script(*[status(500, "database down")] * 100)
        handler, _ = fake_timed(srv, max_instances_per_request=16, max_attempts=3)
        observer = handler.load()
        results = list(ig.predict(handler, data))
        sent = len(srv.seen)
    check_invariants(data, results)
    assert {r.error_type for r in results} == {"EndpointUnavailableError"}
    assert "last: HTTP 500: database down" in results[0].message
    # The request's attempts, then one level of halves (2 attempts each) finds no evidence of
    # a poison pill (nothing was answered), and the breaker opened on the third exhaustion.
    assert sent == 3 + 2 + 2
    assert observer.metrics()["breaker_state"] == "open"


def test_poison_isolation_can_be_turned_off() -> None:
    data = [(i, "crash" if i == 1 else i) for i in range(4)]
    with PredictionServer() as srv:
        handler, _ = fake_timed(srv, isolate_poison=False, max_attempts=3)
        results = list(ig.predict(handler, data))
    assert {r.error_type for r in results} == {"EndpointUnavailableError"}
    assert len(srv.seen) == 3


# -- the circuit breaker ---------------------------------------------------------------------


def test_breaker_opens_fails_fast_then_probes_and_closes() -> None:
    with PredictionServer() as srv:
        srv.script(*[status(503, "down")] * 4)
        handler, fake = fake_timed(
            srv, max_attempts=2, breaker_failures=2, breaker_cooldown_s=30,
            max_instances_per_request=1, max_batch_size=1,
        )
        observer = handler.load()  # shares the endpoint's breaker; reads its metrics

        def data() -> Iterator[tuple[int, int]]:
            yield from ((i, i) for i in range(6))
            assert observer.metrics()["breaker_state"] == "open"
            fake.now += 31  # the cool-down passes
            yield from ((i, i) for i in range(6, 9))

        results = list(ig.predict(handler, data()))
        answers = srv.answers()
    keys = [(i, i) for i in range(9)]
    check_invariants(keys, results)
    kinds = [r.error_type if isinstance(r, ig.Failure) else "ok" for r in results]
    assert kinds == ["EndpointUnavailableError"] * 2 + ["CircuitOpenError"] * 4 + ["ok"] * 3
    refused = results[2]
    assert isinstance(refused, ig.Failure)
    assert f"endpoint {srv.url}/v1/models/m:predict is down" in refused.message
    assert "circuit breaker opened 0.0s ago, after 2 consecutive requests" in refused.message
    assert "probes the endpoint again in 30.0s" in refused.message
    assert answers == [503] * 4 + [200] * 3  # nothing was sent while the breaker was open
    metrics = observer.metrics()
    assert metrics["breaker_state"] == "closed"
    assert (metrics["breaker_opened"], metrics["breaker_half_opened"]) == (1, 1)
    assert (metrics["breaker_closed"], metrics["breaker_rejected"]) == (1, 4)


def test_a_failed_probe_opens_the_breaker_again() -> None:
    with PredictionServer() as srv:
        srv.script(*[status(503)] * 3)
        handler, fake = fake_timed(
            srv, max_attempts=2, breaker_failures=1, max_instances_per_request=1,
            max_batch_size=1,
        )
        observer = handler.load()

        def data() -> Iterator[int]:
            yield 1  # two 503s: the breaker opens
            fake.now += 31
            yield 2  # the probe gets a 503: open again, no retry
            yield 3  # refused at once

        results = list(ig.predict(handler, data()))
    assert [r.error_type for r in results] == [  # type: ignore[union-attr]
        "EndpointUnavailableError", "CircuitOpenError", "CircuitOpenError"
    ]
    assert len(srv.seen) == 3
    metrics = observer.metrics()
    assert (metrics["breaker_opened"], metrics["breaker_half_opened"]) == (2, 1)
    assert metrics["breaker_state"] == "open"


def test_one_breaker_per_endpoint_shared_by_handlers() -> None:
    with PredictionServer() as srv:
        srv.script(*[status(503)] * 2)
        fake = FakeTime()
        common: dict[str, Any] = {
            "protocol": "tf_serving", "endpoint": srv.url, "model": "m", "max_attempts": 1,
            "breaker_failures": 2, "clock": fake.clock, "sleep": fake.sleep,
        }
        first = RemoteHandler(**common, max_batch_size=1)
        second = RemoteHandler(**common, max_batch_size=7)  # another config, same endpoint
        keep = first.load()
        list(ig.predict(first, [1, 2]))
        (result,) = ig.predict(second, [3])
        assert keep.breaker is second.load().breaker
    assert isinstance(result, ig.Failure) and result.error_type == "CircuitOpenError"
    assert len(srv.seen) == 2


def test_breaker_can_be_turned_off() -> None:
    with PredictionServer() as srv:
        srv.script(*[status(503)] * 5)
        handler, _ = fake_timed(
            srv, max_attempts=1, breaker_failures=1, circuit_breaker=False, max_batch_size=1
        )
        results = list(ig.predict(handler, [1, 2, 3, 4, 5, 6]))
    assert [type(r).__name__ for r in results] == ["Failure"] * 5 + ["Prediction"]
    assert {r.error_type for r in results[:5]} == {"EndpointUnavailableError"}  # type: ignore[union-attr]
    assert len(srv.seen) == 6


# -- the run deadline ------------------------------------------------------------------------


def test_run_deadline_stops_retries_then_fails_batches_at_once() -> None:
    with PredictionServer() as srv:
        srv.script(*[status(502)] * 200)
        handler, fake = fake_timed(
            srv, run_deadline_s=10, deadline_s=100, max_attempts=50, backoff_initial_s=1,
            backoff_max_s=1, circuit_breaker=False, max_batch_size=2,
        )
        start = fake.now

        def data() -> Iterator[tuple[int, int]]:
            yield from [(0, 0), (1, 1)]  # retried until the run deadline, not deadline_s
            sent.append(len(srv.seen))
            fake.now += 1
            yield from [(i, i) for i in range(2, 6)]  # past the run deadline

        sent: list[int] = []
        results = list(ig.predict(handler, data()))
        sent.append(len(srv.seen))
    check_invariants([(i, i) for i in range(6)], results)
    first = results[0]
    assert isinstance(first, ig.Failure) and first.error_type == "EndpointUnavailableError"
    assert "deadline passed (deadline_s=100, run_deadline_s=10)" in first.message
    assert fake.now - start <= 10 + 1
    assert sent[0] <= 21 and sent[1] == sent[0]  # nothing sent past the run deadline
    refused = results[2:]
    assert {r.error_type for r in refused} == {"RunDeadlineError"}  # type: ignore[union-attr]
    assert isinstance(refused[0], ig.Failure)
    assert "the run deadline passed: run_deadline_s=10 from the first request to" in (
        refused[0].message
    )
    assert "nothing more is sent" in refused[0].message


def test_run_deadline_from_the_first_request() -> None:
    with PredictionServer() as srv:
        handler, fake = fake_timed(srv, run_deadline_s=60, max_batch_size=1)

        def data() -> Iterator[int]:
            fake.now += 1000  # time before the first request does not count
            yield 1
            fake.now += 59
            yield 2
            fake.now += 2
            yield 3

        results = list(ig.predict(handler, data()))
    assert [type(r).__name__ for r in results] == ["Prediction", "Prediction", "Failure"]
    assert results[2].error_type == "RunDeadlineError"  # type: ignore[union-attr]
    assert len(srv.seen) == 2
