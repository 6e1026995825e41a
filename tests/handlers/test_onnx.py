from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import infergraph as ig
from infergraph.core.metrics import RunStats
from infergraph.testing import check_handler, outputs_equal, run_on_beam


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
