from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

import infergraph as ig
from infergraph.core.execute import BatchRunner, Item, plan_calls
from infergraph.core.items import to_item
from infergraph.core.metrics import RunStats
from infergraph.core.sharing import SHARED_MODELS
from infergraph.testing import run_on_beam
from tests.core.handlers import ScaleHandler


@pytest.fixture(autouse=True)
def _reset_counts() -> None:
    ScaleHandler.loads = 0
    ScaleHandler.calls = []


def test_predictions_in_order_with_keys_and_without() -> None:
    results = list(ig.predict(ScaleHandler(), [1, ("b", 2), 3, ("d", 4)]))
    assert [r.key for r in results] == [None, "b", None, "d"]
    assert [float(r.output) for r in results] == [2.0, 4.0, 6.0, 8.0]
    assert all(isinstance(r, ig.Prediction) for r in results)
    assert results[1].model_id == "ScaleHandler"


def test_batches_follow_the_policy() -> None:
    list(ig.predict(ScaleHandler(max_batch_size=4), range(10)))
    assert ScaleHandler.calls == [4, 4, 2]


def test_a_bad_element_is_isolated_by_bisection() -> None:
    data = [(f"k{i}", float(i)) for i in range(8)]
    results = list(ig.predict(ScaleHandler(reject=5.0, max_batch_size=8), data))
    assert len(results) == 8
    failures = [r for r in results if isinstance(r, ig.Failure)]
    assert [f.key for f in failures] == ["k5"]
    failure = failures[0]
    assert failure.stage == "run"
    assert failure.error_type == "ValueError"
    assert "key 'k5'" in failure.message and "refuses 5.0" in failure.message
    assert [float(r.output) for r in results if isinstance(r, ig.Prediction)] == [
        0,
        2,
        4,
        6,
        8,
        12,
        14,
    ]


def test_batch_error_is_not_bisected() -> None:
    class Down(ScaleHandler):
        def run(self, model: float, batch: np.ndarray) -> np.ndarray:
            type(self).calls.append(len(batch))
            raise ig.BatchError("endpoint unavailable")

    results = list(ig.predict(Down(max_batch_size=8), range(8)))
    assert ScaleHandler.calls == [8]
    assert all(isinstance(r, ig.Failure) and r.error_type == "BatchError" for r in results)


def test_postprocess_must_return_one_prediction_per_example() -> None:
    class Short(ScaleHandler):
        def postprocess(self, examples: Sequence[Any], outputs: Any) -> list[Any]:
            return list(outputs)[:-1]

    results = list(ig.predict(Short(), [("a", 1.0)]))
    assert isinstance(results[0], ig.Failure)
    assert results[0].stage == "postprocess"
    assert "returned 0 predictions for 1 examples" in results[0].message


def test_an_exception_in_postprocess_output_fails_that_element_only() -> None:
    class Picky(ScaleHandler):
        def postprocess(self, examples: Sequence[Any], outputs: Any) -> list[Any]:
            return [
                ValueError("odd") if x % 2 else y for x, y in zip(examples, outputs, strict=True)
            ]

    results = list(ig.predict(Picky(), [("a", 1), ("b", 2)]))
    assert isinstance(results[0], ig.Failure) and results[0].key == "a"
    assert isinstance(results[1], ig.Prediction) and results[1].key == "b"


def test_keyed_true_rejects_unpaired_elements_as_input_failures() -> None:
    results = list(ig.predict(ScaleHandler(), [("a", 1), 2], keyed=True))
    assert isinstance(results[0], ig.Prediction)
    failure = results[1]
    assert isinstance(failure, ig.Failure)
    assert failure.stage == "input" and failure.error_type == "InputError"
    assert "expected a (key, example) pair" in failure.message


def test_keyed_false_takes_tuples_as_examples() -> None:
    item = to_item((1, 2), keyed=False, node="n")
    assert isinstance(item, Item) and item.key is None and item.example == (1, 2)


def test_blocks_run_in_chunks_without_per_row_work() -> None:
    block = ig.Block(np.arange(10, dtype=np.float64))
    results = list(ig.predict(ScaleHandler(max_batch_size=4), [("blk", block), ("one", 1.0)]))
    assert ScaleHandler.calls == [4, 4, 2, 1]
    assert results[0].key == "blk"
    np.testing.assert_array_equal(results[0].output, np.arange(10) * 2.0)
    assert float(results[1].output) == 2.0


def test_a_handler_without_a_block_path_runs_blocks_through_its_stages() -> None:
    class NoBlocks(ScaleHandler):
        accepts_blocks = False
        batched: ClassVar[list[int]] = []

        def batch(self, examples: Any) -> np.ndarray:
            self.batched.append(len(examples))
            return super().batch(examples)

    keys = ["a", "b", "c", "d", "e"]
    block = ig.Block(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), keys=keys)
    good, bad = ig.predict(NoBlocks(reject=4.0, max_batch_size=8), [block])
    assert isinstance(good, ig.Prediction) and good.example.keys.tolist() == ["a", "b", "c", "e"]
    assert good.output.tolist() == [2.0, 4.0, 6.0, 10.0]  # one output block, as a block path gives
    assert isinstance(bad, ig.Failure) and (bad.key, bad.stage) == ("d", "run")
    assert NoBlocks.batched[0] == 5  # the rows went to batch() together


def test_block_arrays_must_agree_on_rows() -> None:
    with pytest.raises(ig.InputError, match="same rows"):
        ig.Block({"a": np.ones(3), "b": np.ones(4)})


def test_byte_budget_splits_model_calls() -> None:
    items = [Item(None, np.ones(100)) for _ in range(5)]  # 800 bytes each
    calls = list(plan_calls(items, max_size=100, max_bytes=2000))
    assert [len(c) for c in calls] == [2, 2, 1]


def test_metrics_count_every_element() -> None:
    stats = RunStats()
    list(ig.predict(ScaleHandler(reject=3.0), [1.0, 2.0, 3.0, ig.Block(np.ones(5))], metrics=stats))
    assert stats.counters["inferences"] == 2 + 5
    assert stats.counters["failures"] == 1
    assert stats.distributions["load_time_ms"].count == 1
    assert stats.distributions["batch_size"].max == 5


def test_model_is_loaded_once_and_shared_by_threads() -> None:
    handler = ScaleHandler(factor=3.0)
    boxes = []

    def acquire() -> None:
        boxes.append(SHARED_MODELS.acquire(handler, RunStats()))

    threads = [threading.Thread(target=acquire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ScaleHandler.loads == 1
    assert len({id(box) for box in boxes}) == 1


def test_a_failing_load_names_the_cause() -> None:
    class Broken(ScaleHandler):
        def load(self) -> float:
            raise OSError("disk on fire")

    with pytest.raises(ig.ModelLoadError, match="could not load its model: OSError: disk on fire"):
        list(ig.predict(Broken(), [1]))


def test_max_batch_duration_closes_slow_batches() -> None:
    ticks = iter(range(100))
    results = list(
        ig.predict(
            ScaleHandler(max_batch_size=100, max_batch_duration_s=2),
            range(6),
            clock=lambda: float(next(ticks)),
        )
    )
    assert len(results) == 6
    assert max(ScaleHandler.calls) < 6


def test_the_runner_gives_rows_and_blocks_the_same_answer() -> None:
    runner = BatchRunner(ScaleHandler(max_batch_size=2, reject=3.0), 2.0, RunStats())
    values = [0.0, 1.0, 2.0, 3.0, 4.0]
    rows = runner.run_rows(values)  # through batch/run/postprocess, in calls of 2
    block = runner.run_block(ig.Block(np.array(values)))  # through the block path
    for run in (rows, block):
        assert run.ok.tolist() == [True, True, True, False, True]
        assert [(row, stage) for row, stage, _ in run.failures] == [(3, "run")]
        np.testing.assert_array_equal(np.asarray(run.output, dtype=float), [0.0, 2.0, 4.0, 8.0])


def test_block_row_keys_travel_with_slices_and_takes() -> None:
    block = ig.Block({"x": np.arange(6.0).reshape(3, 2)}, keys=["a", "b", "c"])
    assert block.slice(1, 3).keys.tolist() == ["b", "c"]
    taken = block.take(np.array([True, False, True]))
    assert taken.keys.tolist() == ["a", "c"] and taken.data["x"].tolist() == [[0, 1], [4, 5]]
    assert block.row(1)["x"].tolist() == [2.0, 3.0]
    with pytest.raises(ig.InputError, match="keys must be one per row"):
        ig.Block(np.zeros((3, 2)), keys=["a"])


def test_a_failing_block_is_bisected_by_rows_and_only_bad_rows_fail() -> None:
    handler = ScaleHandler(reject=7.0, max_batch_size=8)
    values = np.arange(20.0) + 100
    values[[3, 11, 12]] = 7.0
    keys = [f"r{i}" for i in range(20)]
    stats = RunStats()
    results = list(ig.predict(handler, [ig.Block(values, keys=keys)], metrics=stats))
    prediction, *failures = results
    assert isinstance(prediction, ig.Prediction)
    good = [k for i, k in enumerate(keys) if i not in (3, 11, 12)]
    assert prediction.example.keys.tolist() == good  # the good rows stay one block
    np.testing.assert_array_equal(prediction.output, np.delete(values, [3, 11, 12]) * 2)
    assert [(f.key, f.stage, f.example) for f in failures] == [
        ("r3", "run", 7.0),
        ("r11", "run", 7.0),
        ("r12", "run", 7.0),
    ]
    assert "run failed in model node 'ScaleHandler' for key 'r11': the model refuses 7.0" in (
        failures[1].message
    )
    assert stats.counters["inferences"] == 17 and stats.counters["failures"] == 3


def test_a_block_of_batch_errors_fails_every_row_without_bisection() -> None:
    class Down(ScaleHandler):
        def run(self, model: float, batch: np.ndarray) -> np.ndarray:
            type(self).calls.append(len(batch))
            raise ig.BatchError("the endpoint is down")

    Down.calls = []
    results = list(ig.predict(Down(max_batch_size=4), [("blk", ig.Block(np.ones(6)))]))
    assert [r.key for r in results] == ["blk"] * 6  # no row keys: the element's key
    assert all(isinstance(r, ig.Failure) and r.stage == "run" for r in results)
    assert Down.calls == [4, 2]  # one call per chunk, no bisection


def test_block_rows_on_beam_match_in_process() -> None:
    handler = ScaleHandler(reject=7.0, max_batch_size=8)
    values = np.arange(30.0) + 100
    values[[0, 17]] = 7.0
    data = [ig.Block(values, keys=np.array([f"r{i}" for i in range(30)]))]
    local = list(ig.predict(handler, data))
    remote = run_on_beam(handler, data)
    assert sorted(str(r.key) for r in remote if isinstance(r, ig.Failure)) == ["r0", "r17"]
    (block,) = [r for r in remote if isinstance(r, ig.Prediction)]
    np.testing.assert_array_equal(block.output, local[0].output)
    assert block.example.keys.tolist() == local[0].example.keys.tolist()


def test_progress_counts_elements_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    ticks = iter(range(1000))
    data = [1.0, 2.0, 3.0, 4.0, ig.Block(np.array([5.0, 3.0, 6.0]))]
    handler = ScaleHandler(factor=2.0, reject=3.0, max_batch_size=2)
    with caplog.at_level(logging.INFO, logger="infergraph"):
        results = list(
            ig.predict(handler, data, progress_every_s=1.0, clock=lambda: float(next(ticks)))
        )
    kinds = [type(r).__name__ for r in results]
    assert kinds == ["Prediction", "Prediction", "Failure", "Prediction", "Prediction", "Failure"]
    last = [r.getMessage() for r in caplog.records if "elements (" in r.getMessage()][-1]
    assert "done: 6 elements" in last and "2 failures" in last


def test_results_read_before_the_source_failed_come_out_before_its_error() -> None:
    def source():  # type: ignore[no-untyped-def]
        yield from range(6)
        raise OSError("the source broke")

    results = ig.predict(ScaleHandler(factor=2.0, max_batch_size=3), source())
    got = []
    with pytest.raises(OSError, match="the source broke"):
        for result in results:
            got.append(result.output)
    assert got == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]  # both chunks read before the error
