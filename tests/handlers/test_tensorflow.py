from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import infergraph as ig
from infergraph.handlers.tensorflow import TensorFlowConfig, TensorFlowHandler
from infergraph.testing import check_handler, run_on_beam
from tests.handlers import tf_models
from tests.handlers.tf_models import example_proto, serialized_example

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tf_models.saved_models(tmp_path_factory.mktemp("tf"))


def tf_handler(path: Path, **options: object) -> TensorFlowHandler:
    handler = ig.handler("tensorflow", path=str(path), **options)
    assert isinstance(handler, TensorFlowHandler)
    return handler


def outputs(results: list[ig.Prediction | ig.Failure]) -> list[object]:
    assert all(isinstance(r, ig.Prediction) for r in results), results
    return [r.output for r in results]  # type: ignore[union-attr]


# -- calling signatures --------------------------------------------------------------------


def test_serialized_examples_with_keys(models: dict[str, Path]) -> None:
    data = [(f"k{x}", serialized_example(x)) for x in (105, 108, 1000, 1013)]
    results = list(ig.predict(tf_handler(models["linear_examples"]), data))
    assert [r.key for r in results] == ["k105", "k108", "k1000", "k1013"]
    np.testing.assert_allclose(
        np.concatenate(outputs(results)), [525.0, 540.0, 5000.0, 5065.0], rtol=1e-6
    )
    assert results[0].output.shape == (1,)  # type: ignore[union-attr]


def test_example_protos_and_bytes_mix(models: dict[str, Path]) -> None:
    data = [example_proto(105), serialized_example(108), bytearray(serialized_example(2))]
    results = list(ig.predict(tf_handler(models["linear_examples"]), data))
    np.testing.assert_allclose(np.concatenate(outputs(results)), [525.0, 540.0, 10.0])


def test_a_bad_serialized_example_fails_alone(models: dict[str, Path]) -> None:
    data = [("a", serialized_example(1)), ("bad", b"not a proto"), ("c", serialized_example(3))]
    results = list(ig.predict(tf_handler(models["linear_examples"]), data))
    assert isinstance(results[0], ig.Prediction) and isinstance(results[2], ig.Prediction)
    failure = results[1]
    assert isinstance(failure, ig.Failure)
    assert failure.key == "bad" and failure.stage == "run"
    assert failure.error_type == "InvalidArgumentError"
    assert "parse" in failure.message.lower()


def test_arrays_and_tensors_are_stacked(models: dict[str, Path]) -> None:
    import tensorflow as tf

    handler = tf_handler(models["linear_examples"], signature="predict_tensor")
    data = [np.array([1.0]), tf.constant([2.0]), [3]]  # float64, tensor, list of int
    np.testing.assert_allclose(
        np.concatenate(outputs(list(ig.predict(handler, data)))), [5.0, 10.0, 15.0]
    )


def test_two_inputs_as_dicts(models: dict[str, Path]) -> None:
    data = [
        ("x", {"a": np.array([1.0, 2.0]), "b": np.array([1, 0])}),
        ("y", {"b": np.array([0, 2]), "a": np.array([0.5, 0.5])}),  # order does not matter
    ]
    results = list(ig.predict(tf_handler(models["two_inputs"], max_batch_size=1), data))
    got = outputs(results)
    np.testing.assert_allclose(got[0], [11.0, 2.0])
    np.testing.assert_allclose(got[1], [0.5, 20.5])


def test_two_inputs_missing_one_is_a_clear_failure(models: dict[str, Path]) -> None:
    results = list(ig.predict(tf_handler(models["two_inputs"]), [("k", {"a": [1.0, 2.0]})]))
    failure = results[0]
    assert isinstance(failure, ig.Failure) and failure.error_type == "InputError"
    assert "lacks input 'b'" in failure.message and "['a', 'b']" in failure.message


def test_two_outputs_as_dict_per_example(models: dict[str, Path]) -> None:
    data = [np.array([1.0, 2.0, 3.0], np.float32), np.array([0.0, 0.0, 1.0], np.float32)]
    got = outputs(list(ig.predict(tf_handler(models["two_outputs"]), data)))
    assert [sorted(o) for o in got] == [["double", "total"]] * 2  # type: ignore[call-overload]
    np.testing.assert_allclose(got[0]["double"], [2.0, 4.0, 6.0])  # type: ignore[index]
    assert float(got[0]["total"]) == 6.0 and float(got[1]["total"]) == 1.0  # type: ignore[index]


def test_output_names_select_outputs(models: dict[str, Path]) -> None:
    handler = tf_handler(models["two_outputs"], output_names=["total"])
    got = outputs(list(ig.predict(handler, [np.ones(3, np.float32)])))
    assert float(got[0]) == 3.0  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["keras3_dense", "tf_keras_dense"])
def test_keras_exports(models: dict[str, Path], name: str) -> None:
    data = [np.arange(4, dtype=np.float32), np.ones(4, np.float32)]
    got = outputs(list(ig.predict(tf_handler(models[name]), data)))
    np.testing.assert_allclose(np.stack(got), [[6.0, 6.0], [4.0, 4.0]])  # type: ignore[arg-type]


def test_blocks_run_without_per_row_work(models: dict[str, Path]) -> None:
    rows = np.arange(10, dtype=np.float32).reshape(10, 1)
    handler = tf_handler(models["linear_examples"], signature="predict_tensor", max_batch_size=4)
    stats = ig.RunStats()
    (result,) = ig.predict(handler, [("blk", ig.Block(rows))], metrics=stats)
    assert isinstance(result, ig.Prediction) and result.key == "blk"
    np.testing.assert_allclose(result.output, rows * 5)
    assert stats.counters["model_calls"] == 3 and stats.counters["inferences"] == 10


def test_block_of_dicts_with_two_outputs(models: dict[str, Path]) -> None:
    block = ig.Block({"x": np.ones((5, 3), np.float32)})
    (result,) = ig.predict(tf_handler(models["two_outputs"]), [block])
    assert isinstance(result, ig.Prediction)
    assert result.output["total"].shape == (5,)
    np.testing.assert_allclose(result.output["double"], np.full((5, 3), 2.0))


def test_wrong_shape_names_input_and_shapes(models: dict[str, Path]) -> None:
    data = [("ok", np.ones(3, np.float32)), ("short", np.ones(2, np.float32))]
    results = list(ig.predict(tf_handler(models["two_outputs"]), data))
    # Different shapes cannot be stacked: bisection isolates the odd one (the first fits).
    assert isinstance(results[0], ig.Prediction)
    failure = results[1]
    assert isinstance(failure, ig.Failure) and failure.error_type == "InputError"
    assert "input 'x' expects shape [None, 3] (float32)" in failure.message
    assert "[1, 2]" in failure.message


def test_examples_of_different_shapes_cannot_stack() -> None:
    handler = TensorFlowHandler(path="unused")
    with pytest.raises(ig.InputError, match=r"different shapes \(2,\), \(3,\)"):
        handler.batch([np.ones(2), np.ones(3)])
    with pytest.raises(ig.InputError, match="also holds a ndarray"):
        handler.batch([b"x", np.ones(2)])
    with pytest.raises(ig.InputError, match=r"needs the fields \['a'\]; got \['b'\]"):
        handler.batch([{"a": 1}, {"b": 2}])


# -- loading -------------------------------------------------------------------------------


def test_missing_signature_lists_the_available_ones(models: dict[str, Path]) -> None:
    handler = tf_handler(models["linear_examples"], signature="nope")
    with pytest.raises(ig.ModelLoadError) as caught:
        handler.load()
    message = str(caught.value)
    assert "no signature 'nope'" in message
    assert "['predict_tensor', 'serving_default']" in message


def test_unknown_output_name(models: dict[str, Path]) -> None:
    with pytest.raises(ig.ModelLoadError, match=r"no outputs \['y'\]; its outputs are"):
        tf_handler(models["two_outputs"], output_names=["y"]).load()


def test_missing_directory_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ig.ModelLoadError, match=f"'{missing}' not found"):
        list(ig.predict(tf_handler(missing), [b""]))


def test_directory_without_saved_model(tmp_path: Path) -> None:
    with pytest.raises(ig.ModelLoadError, match="is not a SavedModel directory"):
        tf_handler(tmp_path).load()


def test_corrupt_saved_model_names_path_and_cause(tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x96\x01 garbage, not a proto")
    with pytest.raises(ig.ModelLoadError) as caught:
        tf_handler(tmp_path).load()
    message = str(caught.value)
    assert f"could not load the SavedModel '{tmp_path}'" in message
    assert "Error" in message.split(":", 1)[1]  # the cause's exception type is named


def test_config_rejects_growth_and_limit_together() -> None:
    with pytest.raises(ig.ConfigError, match="memory_growth or memory_limit_mb, not both"):
        ig.handler("tensorflow", path="m", memory_growth=True, memory_limit_mb=512)


def test_every_config_field_is_described() -> None:
    assert all(f.description for f in TensorFlowConfig.model_fields.values())


def test_importing_infergraph_does_not_import_tensorflow() -> None:
    code = (
        "import sys, infergraph, infergraph.handlers.tensorflow, "
        "infergraph.handlers.tensorflow.tfx, "
        "infergraph.handlers.inspect; ig = infergraph.handler('tensorflow', path='m'); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- device ---------------------------------------------------------------------------------


def test_cpu_placement(models: dict[str, Path]) -> None:
    model = tf_handler(models["linear_examples"], signature="predict_tensor").load()
    assert model.device == "/CPU:0"
    result = model.call(np.ones((2, 1), np.float32))["output_0"]
    assert result.device.endswith("/device:CPU:0")
    assert model.loaded.w.device.endswith("/device:CPU:0")


def test_gpu_without_a_gpu_is_a_clear_error(models: dict[str, Path]) -> None:
    if _gpus():
        pytest.skip("this machine has a GPU")
    handler = tf_handler(models["linear_examples"], device="gpu:1")
    with pytest.raises(ig.DeviceError) as caught:
        list(ig.predict(handler, [serialized_example(1)]))
    message = str(caught.value)
    assert "device 'gpu:1' needs GPU 1, but TensorFlow found 0 GPU(s)" in message
    assert "/physical_device:CPU:0" in message and "allow_cpu_fallback" in message


def test_cpu_fallback_warns_once_and_counts(
    models: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    if _gpus():
        pytest.skip("this machine has a GPU")
    handler = tf_handler(
        models["linear_examples"], device="gpu", allow_cpu_fallback=True, model_id="fallback"
    )
    stats = ig.RunStats()
    with caplog.at_level(logging.WARNING, logger="infergraph"):
        results = list(ig.predict(handler, [serialized_example(2)], metrics=stats))
        handler.load()  # a second load in this process does not warn again
    assert float(outputs(results)[0][0]) == 10.0  # type: ignore[index]
    warnings = [r.getMessage() for r in caplog.records if "falls back to the CPU" in r.getMessage()]
    assert len(warnings) == 1 and "device 'gpu' needs a GPU" in warnings[0]
    assert stats.counters["cpu_fallback"] == 1
    assert handler.fell_back_to_cpu


def test_auto_without_a_gpu_uses_the_cpu_quietly(models: dict[str, Path]) -> None:
    if _gpus():
        pytest.skip("this machine has a GPU")
    handler = tf_handler(models["linear_examples"], device="auto")
    assert handler.load().device == "/CPU:0" and not handler.fell_back_to_cpu


def test_logical_devices_in_a_subprocess(models: dict[str, Path]) -> None:
    code = "import sys; from tests.handlers.tf_models import report_placement as r; r(sys.argv[1])"
    out = subprocess.run(
        [sys.executable, "-c", code, str(models["linear_examples"])],
        cwd=Path(__file__).parents[2],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    assert lines["logical"] == "/CPU:1"
    assert lines["output_device"].endswith("/device:CPU:1")
    assert lines["variable_device"].endswith("/device:CPU:1")
    assert lines["value"] == "5.0"
    assert lines["default_output_device"].endswith("/device:CPU:0")
    assert lines["missing"].startswith("DeviceError: logical device '/CPU:5' does not exist")


@pytest.mark.gpu
def test_gpu_placement(models: dict[str, Path]) -> None:
    if not _gpus():
        pytest.skip("no GPU visible to TensorFlow")
    model = tf_handler(models["linear_examples"], signature="predict_tensor", device="gpu").load()
    assert model.device.startswith("/GPU:")
    assert "GPU" in model.call(np.ones((2, 1), np.float32))["output_0"].device


def _gpus() -> list[object]:
    import tensorflow as tf

    return list(tf.config.list_physical_devices("GPU"))


# -- Beam ------------------------------------------------------------------------------------


def test_beam_and_in_process_agree_with_keys(models: dict[str, Path]) -> None:
    handler = tf_handler(models["linear_examples"])
    predictions = check_handler(handler, [serialized_example(x) for x in (105, 108, 1000, 1013)])
    np.testing.assert_allclose(
        np.concatenate([p.output for p in predictions]), [525.0, 540.0, 5000.0, 5065.0]
    )


def test_beam_routes_failures_with_keys(models: dict[str, Path]) -> None:
    handler = tf_handler(models["two_inputs"])
    data = [
        ("good", {"a": np.array([1.0, 1.0]), "b": np.array([1, 2])}),
        ("bad", {"a": np.array([1.0, 1.0])}),
        ("blk", ig.Block({"a": np.zeros((3, 2)), "b": np.ones((3, 2), np.int64)})),
    ]
    results = {r.key: r for r in run_on_beam(handler, data)}
    assert isinstance(results["good"], ig.Prediction)
    np.testing.assert_allclose(results["good"].output, [11.0, 21.0])
    assert isinstance(results["blk"], ig.Prediction)
    np.testing.assert_allclose(results["blk"].output, np.full((3, 2), 10.0))
    failure = results["bad"]
    assert isinstance(failure, ig.Failure) and "lacks input 'b'" in failure.message


def test_dict_examples_may_list_their_fields_in_any_order(models: dict[str, Path]) -> None:
    data = [("ab", {"a": [1.0, 2.0], "b": [1, 1]}), ("ba", {"b": [2, 2], "a": [0.0, 1.0]})]
    stats = ig.RunStats()
    handler = tf_handler(models["two_inputs"], max_batch_size=2)
    results = list(ig.predict(handler, data, metrics=stats))
    assert stats.counters["model_calls"] == 1, "one batch, not one call per example"
    assert [r.key for r in results] == ["ab", "ba"]
    assert all(isinstance(r, ig.Prediction) for r in results), results
    np.testing.assert_allclose(results[0].output, [11.0, 12.0])
    np.testing.assert_allclose(results[1].output, [20.0, 21.0])


# -- robustness: inputs, fixed batch sizes, out of memory ------------------------------------


def test_a_block_of_objects_is_not_turned_into_nan(models: dict[str, Path]) -> None:
    handler = tf_handler(models["linear_examples"], signature="predict_tensor")
    block = ig.Block(np.array([[1.0], [None]], dtype=object))
    failures = list(ig.predict(handler, [("blk", block)]))
    assert len(failures) == 2  # an object block is no numbers, row by row too
    assert all(isinstance(f, ig.Failure) and f.error_type == "InputError" for f in failures)
    failure = failures[1]
    assert "input 'x' expects float32 numbers" in failure.message
    assert "Pass numbers only" in failure.message


def test_fractional_values_for_an_integer_input_fail(models: dict[str, Path]) -> None:
    data = [
        ("ok", {"a": np.array([1.0, 2.0]), "b": np.array([1.0, 0.0])}),
        ("half", {"a": np.array([1.0, 2.0]), "b": np.array([0.5, 0.0])}),
    ]
    results = list(ig.predict(tf_handler(models["two_inputs"]), data))
    np.testing.assert_allclose(results[0].output, [11.0, 2.0])  # type: ignore[union-attr]
    failure = results[1]
    assert isinstance(failure, ig.Failure) and failure.error_type == "InputError"
    assert "input 'b' expects int64 integers" in failure.message


def test_a_fixed_batch_size_is_read_from_the_signature(
    models: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    handler = tf_handler(models["fixed_batch"], max_batch_size=64)
    assert handler.fixed_batch_size(handler.load()) == 2
    caplog.set_level(logging.INFO, logger="infergraph")
    stats = ig.RunStats()
    data = [(i, [float(i)]) for i in range(5)] + [("blk", ig.Block(np.ones((5, 1))))]
    results = list(ig.predict(handler, data, metrics=stats))
    assert all(isinstance(r, ig.Prediction) for r in results), results
    np.testing.assert_allclose(np.concatenate(outputs(results[:5])), [0.0, 3.0, 6.0, 9.0, 12.0])
    np.testing.assert_allclose(results[5].output, np.full((5, 1), 3.0))  # type: ignore[union-attr]
    assert stats.counters["model_calls"] == 6 and stats.counters["padded_examples"] == 2
    assert stats.counters["bisections"] == 0
    assert "the model takes batches of exactly 2" in caplog.text


class Exhausted(TensorFlowHandler):
    """Asks TensorFlow for an impossible allocation on batches above 4 rows: the real
    ``tf.errors.ResourceExhaustedError`` a model too big for its device raises."""

    def run(self, model: Any, batch: Any) -> Any:
        rows = len(next(iter(batch.values()))) if isinstance(batch, dict) else len(batch)
        if rows > 4:
            model.tf.zeros([2**62])  # refused at once (a merely huge one waits ~10 s first)
        return super().run(model, batch)


def test_resource_exhausted_halves_the_batch(models: dict[str, Path]) -> None:
    import tensorflow as tf

    handler = Exhausted(path=str(models["two_outputs"]), max_batch_size=16)
    stats = ig.RunStats()
    rows = np.arange(30, dtype=np.float32).reshape(10, 3)
    results = list(ig.predict(handler, [(i, row) for i, row in enumerate(rows)], metrics=stats))
    assert [r.key for r in results] == list(range(10))
    assert all(isinstance(r, ig.Prediction) for r in results), results
    doubled = np.stack([r.output["double"] for r in results])  # type: ignore[union-attr]
    np.testing.assert_allclose(doubled, rows * 2)
    assert stats.counters["oom_splits"] == 2  # 10 fails, 5 fails, then batches of 2
    assert stats.distributions["batch_size"].max == 2
    with pytest.raises(tf.errors.ResourceExhaustedError) as caught:
        Exhausted(path=str(models["two_outputs"])).run(handler.load(), rows)
    assert handler.is_out_of_memory(caught.value)
