"""Models with a fixed batch size get batches of exactly that size, blocks included."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import pytest

import infergraph as ig
from infergraph.core.metrics import RunStats
from tests.core.handlers import ScaleHandler


class Fixed(ScaleHandler):
    """A model that, like an export with a static batch dimension, takes ``size`` rows only."""

    size: ClassVar[int] = 4

    def fixed_batch_size(self, model: float) -> int | None:
        return self.size

    def run(self, model: float, batch: np.ndarray) -> np.ndarray:
        if len(batch) != self.size:
            raise ValueError(f"expected a batch of {self.size}, got {len(batch)}")
        return super().run(model, batch)


class FixedOne(Fixed):
    size = 1


@pytest.fixture(autouse=True)
def _reset_counts() -> None:
    ScaleHandler.calls = []


def test_a_stream_is_called_in_batches_of_exactly_the_fixed_size() -> None:
    stats = RunStats()
    results = list(ig.predict(Fixed(), [(i, float(i)) for i in range(10)], metrics=stats))
    assert [r.key for r in results] == list(range(10))
    assert [float(r.output) for r in results] == [2.0 * i for i in range(10)]
    assert ScaleHandler.calls == [4, 4, 4]
    assert stats.counters["padded_examples"] == 2
    assert stats.counters["bisections"] == 0
    assert stats.counters["model_calls"] == 3


def test_the_fixed_size_wins_over_a_smaller_max_batch_size() -> None:
    results = list(ig.predict(Fixed(max_batch_size=3), [float(i) for i in range(5)]))
    assert all(isinstance(r, ig.Prediction) for r in results)
    assert set(ScaleHandler.calls) == {4}


def test_a_model_of_batch_size_one_is_called_once_per_example() -> None:
    stats = RunStats()
    results = list(ig.predict(FixedOne(), [float(i) for i in range(20)], metrics=stats))
    assert all(isinstance(r, ig.Prediction) for r in results)
    assert ScaleHandler.calls == [1] * 20
    assert stats.counters["padded_examples"] == 0


def test_a_block_is_sliced_into_fixed_size_calls_and_the_padding_dropped() -> None:
    stats = RunStats()
    block = ig.Block(np.arange(10, dtype=np.float64))
    (result,) = ig.predict(Fixed(max_batch_size=64), [("blk", block)], metrics=stats)
    assert isinstance(result, ig.Prediction)
    np.testing.assert_array_equal(result.output, np.arange(10) * 2.0)
    assert ScaleHandler.calls == [4, 4, 4]
    assert stats.counters["padded_examples"] == 2


def test_a_dict_block_is_padded_column_by_column() -> None:
    class FixedDict(Fixed):
        def batch_block(self, block: ig.Block) -> np.ndarray:
            data: Any = block.data
            return np.asarray(data["a"]) + np.asarray(data["b"])

    block = ig.Block({"a": np.ones(5), "b": np.arange(5.0)})
    (result,) = ig.predict(FixedDict(), [block])
    np.testing.assert_array_equal(result.output, (1 + np.arange(5.0)) * 2)


def test_an_empty_block_cannot_be_padded() -> None:
    (result,) = ig.predict(Fixed(), [("empty", ig.Block(np.zeros((0, 3))))])
    assert isinstance(result, ig.Failure) and result.error_type == "InputError"
    assert "needs batches of exactly 4" in result.message


def test_a_failing_element_is_isolated_with_padded_calls() -> None:
    results = list(ig.predict(Fixed(reject=5.0), [(i, float(i)) for i in range(8)]))
    assert [r.key for r in results if isinstance(r, ig.Failure)] == [5]
    assert set(ScaleHandler.calls) == {4}


def test_a_rescuing_bisection_is_logged_once_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="infergraph")
    handler = ScaleHandler(reject=3.0, max_batch_size=8, model_id="bisected-once")
    stats = RunStats()
    for _ in range(2):
        results = list(ig.predict(handler, [float(i) for i in range(8)], metrics=stats))
        assert sum(isinstance(r, ig.Failure) for r in results) == 1
    assert stats.counters["bisections"] == 2 * 3  # 8 -> 4 -> 2 -> 1, twice
    logged = [r.getMessage() for r in caplog.records if "bisecting it saved" in r.getMessage()]
    assert len(logged) == 1
    assert "'bisected-once': a batch of 8 failed in stage 'run'" in logged[0]
    assert "ValueError: the model refuses 3.0" in logged[0]
    assert "saved 7 examples and failed 1" in logged[0]


def test_a_broken_fixed_batch_size_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(ScaleHandler):
        def fixed_batch_size(self, model: float) -> int | None:
            raise RuntimeError("no shapes")

    caplog.set_level(logging.WARNING, logger="infergraph")
    results = list(ig.predict(Broken(model_id="broken-fixed"), [1.0, 2.0, 3.0]))
    assert all(isinstance(r, ig.Prediction) for r in results)
    assert ScaleHandler.calls == [3]
    assert "fixed_batch_size() raised RuntimeError: no shapes" in caplog.text
