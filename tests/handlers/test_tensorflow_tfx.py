from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import infergraph as ig
from infergraph.cli import main
from infergraph.handlers.inspect import describe_model
from infergraph.handlers.tensorflow.tfx import (
    prediction_log_sink,
    to_prediction_log,
    to_prediction_logs,
    write_prediction_logs,
)
from infergraph.handlers.tensorflow.tfx_protos import prediction_log_types
from tests.handlers import tf_models
from tests.handlers.tf_models import serialized_example

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tf_models.saved_models(tmp_path_factory.mktemp("tf"))


def linear_results(models: dict[str, Path]) -> list[ig.Prediction | ig.Failure]:
    handler = ig.handler("tensorflow", path=str(models["linear_examples"]))
    data = [("a", serialized_example(105)), ("bad", b"junk"), ("c", serialized_example(1013))]
    return list(ig.predict(handler, data))


def test_prediction_log_has_the_tfx_shape(models: dict[str, Path]) -> None:
    import tensorflow as tf

    results = linear_results(models)
    logs = list(to_prediction_logs(results, model_name="five"))
    assert len(logs) == 2  # the failure has no log
    log = logs[0]
    assert log.WhichOneof("log_type") == "predict_log"
    request, response = log.predict_log.request, log.predict_log.response
    assert request.model_spec.signature_name == "serving_default"
    assert response.model_spec.signature_name == "serving_default"
    assert request.model_spec.name == "five"
    examples = request.inputs["examples"]
    assert examples.dtype == tf.string.as_datatype_enum
    assert [d.size for d in examples.tensor_shape.dim] == [1]
    parsed = tf.train.Example.FromString(examples.string_val[0])
    assert parsed.features.feature["x"].float_list.value[0] == 105.0
    output = tf.make_ndarray(response.outputs["output_0"])
    assert output.shape == (1, 1) and output.dtype == np.float32
    np.testing.assert_allclose(output, [[525.0]])


def test_dict_examples_and_outputs(models: dict[str, Path]) -> None:
    import tensorflow as tf

    handler = ig.handler("tensorflow", path=str(models["two_outputs"]))
    (result,) = ig.predict(handler, [{"x": np.array([1.0, 2.0, 3.0], np.float32)}])
    assert isinstance(result, ig.Prediction)
    log = to_prediction_log(result).predict_log
    np.testing.assert_allclose(tf.make_ndarray(log.request.inputs["x"]), [[1.0, 2.0, 3.0]])
    assert sorted(log.response.outputs) == ["double", "total"]
    np.testing.assert_allclose(tf.make_ndarray(log.response.outputs["total"]), [6.0])


def test_a_block_prediction_has_no_single_log() -> None:
    block = ig.Prediction(ig.Block(np.zeros((2, 1))), np.zeros((2, 1)), "m")
    with pytest.raises(ig.InputError, match="a block prediction has many rows"):
        to_prediction_log(block)


def test_write_tfrecord_and_read_back(models: dict[str, Path], tmp_path: Path) -> None:
    import tensorflow as tf

    path = tmp_path / "logs.tfrecord"
    assert write_prediction_logs(linear_results(models), path) == 2
    types = prediction_log_types()
    records = [types.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]
    values = [
        float(tf.make_ndarray(r.predict_log.response.outputs["output_0"])[0, 0]) for r in records
    ]
    np.testing.assert_allclose(values, [525.0, 5065.0])


def test_beam_sink_writes_tfrecords(models: dict[str, Path], tmp_path: Path) -> None:
    import apache_beam as beam
    import tensorflow as tf

    handler = ig.handler("tensorflow", path=str(models["linear_examples"]))
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        _ = (
            pipeline
            | beam.Create([serialized_example(2), b"junk", serialized_example(3)])
            | ig.RunInference(handler).with_exception_handling()
        )[0] | prediction_log_sink(str(tmp_path / "logs"))
    files = sorted(tmp_path.glob("logs*"))
    types = prediction_log_types()
    records = [types.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files)]
    got = sorted(
        float(tf.make_ndarray(r.predict_log.response.outputs["output_0"])[0, 0]) for r in records
    )
    assert got == [10.0, 15.0]


def test_own_messages_are_wire_compatible_with_tensorflow_serving(
    models: dict[str, Path],
) -> None:
    if importlib.util.find_spec("tensorflow_serving") is None:
        pytest.skip("tensorflow-serving-api is not installed")
    from tensorflow_serving.apis import prediction_log_pb2

    ours = prediction_log_types(prefer_official=False)
    assert not ours.official
    result = next(r for r in linear_results(models) if isinstance(r, ig.Prediction))
    official_log = to_prediction_log(result)
    assert isinstance(official_log, prediction_log_pb2.PredictionLog)
    own = ours.PredictionLog.FromString(official_log.SerializeToString())
    assert own.SerializeToString() == official_log.SerializeToString()
    assert own.predict_log.request.model_spec.signature_name == "serving_default"


def test_own_messages_have_the_official_names_and_fields() -> None:
    types = prediction_log_types(prefer_official=False)
    descriptor = types.PredictionLog.DESCRIPTOR
    assert descriptor.full_name == "tensorflow.serving.PredictionLog"
    assert descriptor.fields_by_name["predict_log"].number == 6
    request = types.PredictLog.DESCRIPTOR.fields_by_name["request"].message_type
    assert request.fields_by_name["inputs"].number == 2
    response = types.PredictLog.DESCRIPTOR.fields_by_name["response"].message_type
    assert response.fields_by_name["outputs"].number == 1
    assert response.fields_by_name["model_spec"].number == 2


# -- inspect ---------------------------------------------------------------------------------


def test_inspect_saved_model(models: dict[str, Path]) -> None:
    text = describe_model(str(models["linear_examples"]))
    assert "MetaGraph with tags: serve" in text
    assert "signature_def['serving_default']:" in text
    assert "'examples': dtype DT_STRING, shape (-1), name serving_default_examples:0" in text
    assert "'x': dtype DT_FLOAT, shape (-1, 1)" in text
    assert "'output_0': dtype DT_FLOAT, shape (-1, 1)" in text


def test_inspect_keras_export(models: dict[str, Path]) -> None:
    text = describe_model(str(models["keras3_dense"]))
    assert "'features': dtype DT_FLOAT, shape (-1, 4)" in text


def test_inspect_onnx(five_onnx: Path) -> None:
    text = describe_model(str(five_onnx))
    assert text.startswith(f"ONNX model: {five_onnx}")
    assert "inputs:" in text and "dtype tensor(float)" in text


def test_inspect_errors(tmp_path: Path) -> None:
    with pytest.raises(ig.ModelLoadError, match="not found"):
        describe_model(str(tmp_path / "nope"))
    with pytest.raises(ig.ModelLoadError, match=r"without saved_model\.pb"):
        describe_model(str(tmp_path))
    (tmp_path / "saved_model.pb").write_bytes(b"\xff\xff garbage")
    with pytest.raises(ig.ModelLoadError, match=f"could not read the SavedModel '{tmp_path}'"):
        describe_model(str(tmp_path))


def test_a_signature_that_parses_examples_takes_whole_records(models: dict[str, Path]) -> None:
    parses = ig.handler("tensorflow", path=str(models["linear_examples"]))
    tensors = ig.handler(
        "tensorflow", path=str(models["linear_examples"]), signature="predict_tensor"
    )
    assert parses.takes_records and not tensors.takes_records
    missing = ig.handler("tensorflow", path=str(models["linear_examples"]) + "-missing")
    assert not missing.takes_records  # loading reports the missing model


def test_records_of_one_feature_reach_a_parsing_signature_from_the_cli(
    models: dict[str, Path], tmp_path: Path
) -> None:
    # One field besides the key: the one-field rule would pass the bare value, which a
    # signature that parses tf.train.Example cannot name; the record goes as it is.
    records = tmp_path / "in.jsonl"
    records.write_text(
        '{"id": "a", "x": [105.0]}\n{"id": "b", "x": 1013.0}\n{"id": "c", "x": 1013}\n'
    )
    out = tmp_path / "out.jsonl"
    status = main(
        [
            "predict",
            "--handler",
            "tensorflow",
            "--model",
            str(models["linear_examples"]),
            "--input",
            str(records),
            "--output",
            str(out),
            "--key-field",
            "id",
            "--no-progress",
        ]
    )
    assert status == 0
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert results == [{"id": "a", "output": [525.0]}, {"id": "b", "output": [5065.0]}]
    failures = [
        json.loads(line) for line in (tmp_path / "out.failures.jsonl").read_text().splitlines()
    ]
    # A JSON integer is an int64 feature, as in TF Serving's JSON examples; the model parses x
    # as float, and the failure says so.
    assert [f["id"] for f in failures] == ["c"]
    assert failures[0]["message"].endswith(
        "feature 'x' holds int64 values but the model parses it as float: give it float values "
        "(write 1013.0, not 1013)"
    )
