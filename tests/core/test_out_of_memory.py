"""An allocation failure halves the batch and lowers the model's limit, instead of failing."""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import pytest

import infergraph as ig
from infergraph.core.memory import BATCH_CAPS, looks_like_out_of_memory
from infergraph.core.metrics import RunStats
from tests.core.handlers import ScaleHandler


class Hungry(ScaleHandler):
    """Runs out of memory (a real ``MemoryError``) on batches above ``fits`` rows."""

    fits: ClassVar[int] = 3

    def run(self, model: float, batch: np.ndarray) -> np.ndarray:
        if len(batch) > self.fits:
            type(self).calls.append(-len(batch))
            raise MemoryError(f"cannot allocate {len(batch)} rows")
        return super().run(model, batch)


@pytest.fixture(autouse=True)
def _reset_counts() -> None:
    ScaleHandler.calls = []


def test_out_of_memory_halves_the_batch_and_remembers_the_limit(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="infergraph")
    handler = Hungry(max_batch_size=8, model_id="hungry")
    stats = RunStats()
    results = list(ig.predict(handler, [(i, float(i)) for i in range(10)], metrics=stats))
    assert [r.key for r in results] == list(range(10))
    assert all(isinstance(r, ig.Prediction) for r in results)
    assert [float(r.output) for r in results] == [2.0 * i for i in range(10)]
    assert ScaleHandler.calls == [-8, -4, 2, 2, 2, 2, 2]  # 8 fails, 4 fails, then 2s
    assert stats.counters["oom_splits"] == 2
    assert stats.counters["failures"] == 0
    assert BATCH_CAPS.get(handler.cache_key()) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("'hungry' ran out of memory on a batch of 8" in m for m in messages)
    assert any("now at most 2 in this process" in m for m in messages)

    ScaleHandler.calls = []
    list(ig.predict(handler, [float(i) for i in range(5)]))
    assert ScaleHandler.calls == [2, 2, 1]  # the lower limit is kept for the process


def test_out_of_memory_halves_block_slices() -> None:
    handler = Hungry(max_batch_size=8)
    (result,) = ig.predict(handler, [("blk", ig.Block(np.arange(10.0)))])
    assert isinstance(result, ig.Prediction)
    np.testing.assert_array_equal(result.output, np.arange(10.0) * 2)
    assert ScaleHandler.calls == [-8, -4, 2, 2, 2, 2, 2]


def test_a_single_example_out_of_memory_fails_alone() -> None:
    class Starved(Hungry):
        fits = 0

    (failure,) = ig.predict(Starved(), [("a", 1.0)])
    assert isinstance(failure, ig.Failure)
    assert (failure.stage, failure.error_type) == ("run", "MemoryError")
    assert "cannot allocate 1 rows" in failure.message


def test_a_fixed_batch_size_is_not_halved() -> None:
    class FixedHungry(Hungry):
        fits = 0

        def fixed_batch_size(self, model: float) -> int | None:
            return 4

    results = list(ig.predict(FixedHungry(), [float(i) for i in range(4)]))
    assert all(isinstance(r, ig.Failure) and r.error_type == "MemoryError" for r in results)
    assert ScaleHandler.calls == [-4]  # one call: neither halved nor bisected


def test_recognised_errors() -> None:
    assert looks_like_out_of_memory(MemoryError())
    assert looks_like_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert looks_like_out_of_memory(RuntimeError("[ONNXRuntimeError] Failed to allocate memory"))
    assert not looks_like_out_of_memory(ValueError("shape mismatch"))
    # infergraph's own errors are classified already: an endpoint's quota is not our memory.
    assert not looks_like_out_of_memory(ig.BatchError("429 RESOURCE_EXHAUSTED: quota"))


def test_a_handler_can_say_what_is_out_of_memory() -> None:
    class Custom(ScaleHandler):
        def run(self, model: float, batch: np.ndarray) -> np.ndarray:
            if len(batch) > 1:
                type(self).calls.append(-len(batch))
                raise ValueError("device full")
            return super().run(model, batch)

        def is_out_of_memory(self, exc: Exception) -> bool:
            return "device full" in str(exc)

    stats = RunStats()
    results = list(ig.predict(Custom(), [1.0, 2.0], metrics=stats))
    assert all(isinstance(r, ig.Prediction) for r in results)
    assert stats.counters["oom_splits"] == 1 and stats.counters["bisections"] == 0
