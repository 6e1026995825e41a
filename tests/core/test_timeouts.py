"""``run_timeout_s``: a hanging model call fails its batch and does not block later batches."""

from __future__ import annotations

import threading
import time
from typing import ClassVar

import numpy as np
import pytest

import infergraph as ig
from infergraph.core import timeouts
from infergraph.core.metrics import RunStats
from tests.core.handlers import ScaleHandler


class Hangs(ScaleHandler):
    """Hangs on the value -1 until the test releases it, like a model stuck on its device."""

    release: ClassVar[threading.Event] = threading.Event()
    started: ClassVar[list[int]] = []
    finished: ClassVar[list[int]] = []

    def run(self, model: float, batch: np.ndarray) -> np.ndarray:
        type(self).started.append(len(batch))
        if np.any(batch == -1):
            self.release.wait(10)
            type(self).finished.append(len(batch))
        return super().run(model, batch)


@pytest.fixture(autouse=True)
def _reset() -> None:
    ScaleHandler.calls = []
    Hangs.release = threading.Event()
    Hangs.started = []
    Hangs.finished = []


def _wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_a_hanging_call_fails_its_batch_and_later_batches_run() -> None:
    handler = Hangs(run_timeout_s=0.2, max_batch_size=2, model_id="hangs-once")
    stats = RunStats()
    data = [("a", 1.0), ("b", 2.0), ("c", -1.0), ("d", 4.0), ("e", 5.0)]
    start = time.monotonic()
    results = list(ig.predict(handler, data, metrics=stats))
    elapsed = time.monotonic() - start
    assert [r.key for r in results] == ["a", "b", "c", "d", "e"]
    failed = [r for r in results if isinstance(r, ig.Failure)]
    # The batch holding the hung value fails whole, without bisection (no second hang).
    assert [f.key for f in failed] == ["c", "d"]
    assert {(f.stage, f.error_type) for f in failed} == {("run", "ModelTimeoutError")}
    assert "ran past run_timeout_s=0.2 seconds" in failed[0].message
    assert [float(r.output) for r in results if isinstance(r, ig.Prediction)] == [2.0, 4.0, 10.0]
    assert stats.counters["timeouts"] == 1
    assert elapsed < 5  # not stuck behind the hung call
    assert Hangs.started == [2, 2, 1]

    Hangs.release.set()  # the abandoned call finishes in the background; its result is dropped
    _wait_for(lambda: Hangs.finished)
    assert Hangs.finished == [2]


def test_too_many_stuck_calls_refuse_new_ones_until_one_returns() -> None:
    handler = Hangs(run_timeout_s=0.05, max_batch_size=1, model_id="hangs-often")
    stuck = [("h", -1.0)] * timeouts.MAX_STUCK_CALLS
    results = list(ig.predict(handler, [*stuck, ("x", 1.0)]))
    assert all(isinstance(r, ig.Failure) for r in results)
    assert Hangs.started == [1] * timeouts.MAX_STUCK_CALLS  # "x" never reached the model
    assert "still running past run_timeout_s=0.05" in results[-1].message

    Hangs.release.set()
    _wait_for(lambda: len(Hangs.finished) == timeouts.MAX_STUCK_CALLS)
    _wait_for(lambda: timeouts.timed_calls(handler.cache_key(), 0.05, "").stuck == 0)
    (result,) = ig.predict(handler, [("x", 1.0)])
    assert isinstance(result, ig.Prediction) and float(result.output) == 2.0


def test_errors_and_results_come_back_through_the_timed_thread() -> None:
    handler = ScaleHandler(run_timeout_s=5.0, reject=3.0)
    results = list(ig.predict(handler, [1.0, 3.0, ig.Block(np.ones(2))]))
    assert isinstance(results[0], ig.Prediction) and float(results[0].output) == 2.0
    assert isinstance(results[1], ig.Failure) and results[1].error_type == "ValueError"
    np.testing.assert_array_equal(results[2].output, [2.0, 2.0])


@pytest.mark.parametrize("value", [0, -1.0, "5", True, float("inf")])
def test_run_timeout_must_be_a_positive_number(value: object) -> None:
    with pytest.raises(ig.ConfigError, match="run_timeout_s"):
        ScaleHandler(run_timeout_s=value)
