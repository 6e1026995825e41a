from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import infergraph as ig
from infergraph.core.memory import BATCH_CAPS
from infergraph.core.metrics import RunStats
from infergraph.handlers.onnx import OnnxHandler
from infergraph.testing import HandlerConformance, check_handler, outputs_equal, run_on_beam
from tests import onnx_models


def test_single_input_model(five_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(five_onnx))
    predictions = check_handler(handler, [[105.0], [108.0], [1000.0], [1013.0]])
    assert [float(p.output[0]) for p in predictions] == [525.0, 540.0, 5000.0, 5065.0]


def test_a_dict_example_with_one_field_feeds_a_single_input_model(five_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(five_onnx))
    results = list(ig.predict(handler, [{"value": [2.0]}, {"x": [3.0]}]))
    assert [float(r.output[0]) for r in results] == [10.0, 15.0]


def test_two_named_inputs(two_inputs_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(two_inputs_onnx))
    examples = [{"a": [1.0, 2.0], "b": [10.0, 20.0]}, {"b": [0.5, 0.5], "a": [0.0, 1.0]}]
    predictions = check_handler(handler, examples)
    np.testing.assert_array_equal(predictions[0].output, [21.0, 42.0])
    np.testing.assert_array_equal(predictions[1].output, [1.0, 2.0])


def test_missing_input_fails_only_that_element(two_inputs_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(two_inputs_onnx))
    results = list(
        ig.predict(handler, [("ok", {"a": [1, 1], "b": [1, 1]}), ("bad", {"a": [1, 1]})])
    )
    assert isinstance(results[0], ig.Prediction)
    failure = results[1]
    assert isinstance(failure, ig.Failure) and failure.key == "bad"
    assert failure.error_type == "InputError"
    assert "the example lacks input 'b'; the model's inputs are ['a', 'b']" in failure.message


def test_two_outputs_come_back_by_name(two_outputs_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(two_outputs_onnx))
    (prediction,) = check_handler(handler, [np.array([1.0, -2.0, 3.0])])
    assert set(prediction.output) == {"double", "negated"}
    np.testing.assert_array_equal(prediction.output["double"], [2.0, -4.0, 6.0])
    np.testing.assert_array_equal(prediction.output["negated"], [-1.0, 2.0, -3.0])


def test_output_names_select_outputs(two_outputs_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(two_outputs_onnx), output_names=["negated"])
    (result,) = ig.predict(handler, [np.ones(3)])
    np.testing.assert_array_equal(result.output, [-1.0, -1.0, -1.0])


def test_blocks_match_per_row_results(two_outputs_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(two_outputs_onnx), max_batch_size=7)
    rows = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    (block_result,) = ig.predict(handler, [("blk", ig.Block(rows))])
    per_row = list(ig.predict(handler, list(rows)))
    for name in ("double", "negated"):
        np.testing.assert_array_equal(
            block_result.output[name], np.stack([r.output[name] for r in per_row])
        )
    (on_beam,) = run_on_beam(handler, [("blk", ig.Block(rows))])
    assert outputs_equal(on_beam.output, block_result.output)


def test_multi_input_blocks(two_inputs_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(two_inputs_onnx))
    block = ig.Block({"a": np.ones((4, 2)), "b": np.full((4, 2), 3.0)})
    (result,) = ig.predict(handler, [block])
    np.testing.assert_array_equal(result.output, np.full((4, 2), 7.0))


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    handler = ig.handler("onnx", path=str(tmp_path / "nope.onnx"))
    with pytest.raises(ig.ModelLoadError, match=r"ONNX model '.*nope.onnx' not found"):
        list(ig.predict(handler, [[1.0]]))


def test_corrupt_model_names_the_path_and_cause(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"this is not a protobuf")
    handler = ig.handler("onnx", path=str(path))
    with pytest.raises(ig.ModelLoadError, match=r"ONNX Runtime could not load '.*corrupt.onnx': "):
        list(ig.predict(handler, [[1.0]]))


def _has_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.mark.skipif(_has_cuda(), reason="checks the error on a machine without CUDA")
def test_gpu_without_cuda_is_a_clear_error(five_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(five_onnx), device="gpu:1")
    with pytest.raises(ig.DeviceError) as info:
        handler.load()
    message = str(info.value)
    assert "device 'gpu:1'" in message and "needs CUDAExecutionProvider" in message
    assert "running on CPUExecutionProvider" in message
    assert "allow_cpu_fallback" in message


@pytest.mark.skipif(_has_cuda(), reason="checks the fallback on a machine without CUDA")
def test_cpu_fallback_warns_once_and_is_counted(
    five_onnx: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="infergraph")
    for attempt in range(2):
        # Two model ids: two loads (a loaded model is kept, and would not be loaded again).
        handler = ig.handler(
            "onnx",
            path=str(five_onnx),
            device="gpu",
            allow_cpu_fallback=True,
            model_id=f"fb{attempt}",
        )
        stats = RunStats()
        (result,) = ig.predict(handler, [[2.0]], metrics=stats)
        assert float(result.output[0]) == 10.0
        assert stats.counters["cpu_fallback"] == 1
        del result
    warnings = [r for r in caplog.records if "falling back to the CPU" in r.getMessage()]
    assert len(warnings) == 1


def test_auto_device_runs_where_it_can(five_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(five_onnx), device="auto")
    (result,) = ig.predict(handler, [[1.0]])
    assert float(result.output[0]) == 5.0


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="needs onnxruntime-gpu and an NVIDIA GPU")
def test_gpu_placement_on_a_real_gpu(five_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(five_onnx), device="gpu:0")
    model = handler.load()
    assert model.session.get_providers()[0] == "CUDAExecutionProvider"


def test_thread_settings_reach_the_session(five_onnx: Path) -> None:
    handler = ig.handler(
        "onnx", path=str(five_onnx), intra_op_threads=1, graph_optimization="basic"
    )
    model = handler.load()
    options = model.session.get_session_options()
    assert options.intra_op_num_threads == 1


def test_missing_onnxruntime_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, five_onnx: Path
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ig.MissingDependencyError, match=r"pip install 'infergraph\[onnx\]'"):
        ig.handler("onnx", path=str(five_onnx)).load()


# -- inputs are checked before ONNX Runtime sees them ----------------------------------------


@pytest.mark.parametrize(
    ("value", "holds"),
    [
        ([None], "None or other non-numeric objects"),
        (["x"], "text"),
        ([object()], "None or other non-numeric objects"),
        ([1 + 2j], "complex numbers"),
        ([1e300], "beyond its largest value"),
    ],
)
def test_values_that_are_not_numbers_fail_naming_the_input(
    five_onnx: Path, value: list[object], holds: str
) -> None:
    handler = ig.handler("onnx", path=str(five_onnx))
    results = list(ig.predict(handler, [("ok", [1.0]), ("bad", value), ("nan", [float("nan")])]))
    assert isinstance(results[0], ig.Prediction) and float(results[0].output[0]) == 5.0
    failure = results[1]
    assert isinstance(failure, ig.Failure) and failure.key == "bad"
    assert failure.error_type == "InputError"
    assert "input 'x' expects tensor(float)" in failure.message and holds in failure.message
    assert isinstance(results[2], ig.Prediction)  # NaN is a number: the model decides
    assert np.isnan(results[2].output[0])


def test_a_block_of_objects_is_not_turned_into_nan(five_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(five_onnx))
    block = ig.Block(np.array([[1.0], [None]], dtype=object))
    failures = list(ig.predict(handler, [("blk", block)]))
    assert len(failures) == 2  # an object block is no numbers, row by row too
    assert all(isinstance(f, ig.Failure) and f.error_type == "InputError" for f in failures)
    failure = failures[1]
    assert "row 1 of the block with key 'blk'" in failure.message
    assert "Pass numbers only" in failure.message


def test_integer_inputs_take_whole_numbers_only(onnx_dir: Path) -> None:
    handler = ig.handler("onnx", path=str(onnx_models.count_up(onnx_dir / "count_up.onnx")))
    data = [("int", [1, 2]), ("whole", [3.0, 4.0]), ("half", [1.5, 2.0]), ("huge", [2**70, 1])]
    results = {r.key: r for r in ig.predict(handler, data)}
    np.testing.assert_array_equal(results["int"].output, [2, 3])
    np.testing.assert_array_equal(results["whole"].output, [4, 5])
    assert "expects tensor(int64) integers" in results["half"].message
    assert "None or other non-numeric objects" in results["huge"].message


def test_a_wrong_shape_names_the_input_and_both_shapes(five_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(five_onnx))
    results = list(ig.predict(handler, [("ok", [1.0]), ("wide", [1.0, 2.0])]))
    assert isinstance(results[0], ig.Prediction)
    failure = results[1]
    assert isinstance(failure, ig.Failure) and failure.error_type == "InputError"
    assert "input 'x' expects shape [None, 1] (tensor(float)), got a batch of shape [1, 2]" in (
        failure.message
    )


def test_a_block_whose_output_rows_differ_fails(onnx_dir: Path) -> None:
    path = str(onnx_models.batch_sum(onnx_dir / "batch_sum.onnx"))
    # The declared [1, 1] output is refused at load; named in output_names, it is checked at
    # run time instead (a declared shape can be wrong).
    with pytest.raises(ig.ModelLoadError, match=r"'y' \(shape \[1, 1\]\)"):
        ig.handler("onnx", path=path).load()
    handler = ig.handler("onnx", path=path, output_names=["y"])
    failures = list(ig.predict(handler, [("blk", ig.Block(np.ones((5, 1), np.float32)))]))
    assert len(failures) == 5  # a BatchError: every row fails, without bisection
    assert all(isinstance(f, ig.Failure) and f.error_type == "BatchError" for f in failures)
    assert "output 'y' has shape [1, 1], not one row per example (5)" in failures[0].message
    results = list(ig.predict(handler, [[1.0], [2.0], [3.0]]))
    assert all(isinstance(r, ig.Failure) and r.error_type == "BatchError" for r in results)


def test_unknown_output_names_fail_at_load(two_outputs_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(two_outputs_onnx), output_names=["double", "nope"])
    with pytest.raises(ig.ModelLoadError) as caught:
        handler.load()
    message = str(caught.value)
    assert "has no outputs ['nope']; its outputs are ['double', 'negated']" in message
    assert "output_names" in message


# -- a static batch dimension ------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 4])
def test_a_fixed_batch_size_is_read_from_the_model(onnx_dir: Path, size: int) -> None:
    path = onnx_models.linear(onnx_dir / f"fixed{size}.onnx", 5.0, batch=size)
    handler = ig.handler("onnx", path=str(path), max_batch_size=16)
    assert handler.fixed_batch_size(handler.load()) == size
    stats = RunStats()
    data = [(i, [float(i)]) for i in range(10)] + [("blk", ig.Block(np.ones((10, 1))))]
    results = list(ig.predict(handler, data, metrics=stats))
    assert [r.key for r in results] == [*range(10), "blk"]
    assert all(isinstance(r, ig.Prediction) for r in results), results
    assert [float(r.output[0]) for r in results[:10]] == [5.0 * i for i in range(10)]
    np.testing.assert_array_equal(results[10].output, np.full((10, 1), 5.0))
    assert stats.counters["bisections"] == 0 and stats.counters["failures"] == 0
    assert stats.distributions["batch_size"].min == stats.distributions["batch_size"].max == size
    assert stats.counters["model_calls"] == 2 * -(-10 // size)
    on_beam = {r.key: r for r in run_on_beam(handler, data)}
    assert all(isinstance(r, ig.Prediction) for r in on_beam.values())
    assert outputs_equal(on_beam["blk"].output, results[10].output)


# -- out of memory -----------------------------------------------------------------------


_ARENA_BYTES = 8 * 2**20


@pytest.fixture(scope="module")
def capped_arena() -> None:
    """A real memory cap: a process-wide ONNX Runtime arena of 8 MiB for sessions that opt in."""
    import onnxruntime as ort

    info = ort.OrtMemoryInfo(
        "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
    )
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(_ARENA_BYTES, -1, -1, -1))


class CappedOnnx(OnnxHandler):
    """The onnx handler with its sessions on the capped arena."""

    def _session_options(self, ort: Any) -> Any:
        options = super()._session_options(ort)
        options.add_session_config_entry("session.use_env_allocators", "1")
        return options


def test_a_real_allocation_failure_halves_the_batch(
    capped_arena: None, onnx_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each row needs a 256 KiB intermediate: 64 rows (16 MiB) cannot fit in the 8 MiB arena.
    path = onnx_models.widen(onnx_dir / "widen.onnx", 65536)
    handler = CappedOnnx(path=str(path), max_batch_size=64)
    caplog.set_level(logging.WARNING, logger="infergraph")
    stats = RunStats()
    results = list(ig.predict(handler, [(i, [float(i)]) for i in range(100)], metrics=stats))
    assert [r.key for r in results] == list(range(100))
    assert all(isinstance(r, ig.Prediction) for r in results)
    assert [float(r.output[0]) for r in results] == [65536.0 * i for i in range(100)]
    assert stats.counters["oom_splits"] >= 1 and stats.counters["failures"] == 0
    cap = BATCH_CAPS.get(handler.cache_key())
    assert cap is not None and cap < 64
    assert stats.distributions["batch_size"].max <= cap
    assert "ran out of memory on a batch of 64" in caplog.text
    assert "Failed to allocate memory" in caplog.text or "Available memory of" in caplog.text
    (block,) = ig.predict(handler, [ig.Block(np.ones((100, 1), np.float32))])
    assert isinstance(block, ig.Prediction) and block.output.shape == (100, 1)


# -- the conformance suite ---------------------------------------------------------------


class TestOnnxConformance(HandlerConformance):
    good_examples = (
        np.array([1.0, -2.0, 3.0], np.float32),
        [0.5, 0.25, 0.0],
        np.zeros(3),
        [1, 2, 3],
    )
    bad_examples = (
        np.ones(4),
        [None, 1.0, 2.0],
        "text",
        {"y": np.ones(3), "z": np.ones(3)},
        [],
        np.ones((3, 3)),
    )
    good_block = ig.Block(np.arange(12, dtype=np.float32).reshape(4, 3))

    @pytest.fixture(autouse=True, scope="class")
    def _build(self, request: pytest.FixtureRequest, two_outputs_onnx: Path) -> None:
        request.cls.handler = ig.handler("onnx", path=str(two_outputs_onnx))


class TestOnnxFixedBatchConformance(HandlerConformance):
    good_examples = ([1.0], [2.0], [3.0], [4.0], [5.0])
    bad_examples = ([1.0, 2.0], ["x"])
    good_block = ig.Block(np.arange(5, dtype=np.float32).reshape(5, 1))
    beam = False  # the fixed-size model on Beam is covered above

    @pytest.fixture(autouse=True, scope="class")
    def _build(self, request: pytest.FixtureRequest, onnx_dir: Path) -> None:
        path = onnx_models.linear(onnx_dir / "conformance_fixed.onnx", 5.0, batch=2)
        request.cls.handler = ig.handler("onnx", path=str(path))


@pytest.mark.parametrize(
    ("field", "value"), [("intra_op_threads", "2"), ("inter_op_threads", True)]
)
def test_thread_counts_must_be_integers(five_onnx: Path, field: str, value: object) -> None:
    with pytest.raises(ig.ConfigError, match=f"{field}: Input should be a valid integer"):
        ig.handler("onnx", path=str(five_onnx), **{field: value})
