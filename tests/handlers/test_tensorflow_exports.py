"""The tensorflow handler on SavedModels exported the way users export them (see
``tf_exports``): per row, in blocks, on the Beam DirectRunner and through ``infergraph
predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import infergraph as ig
from infergraph.testing import check_handler, run_on_beam
from tests.handlers import tf_exports
from tests.handlers.cli_predict import predict_jsonl
from tests.handlers.tf_exports import example

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tf_exports.build_all(tmp_path_factory.mktemp("tf_exports"))


def every_prediction(results: list[Any]) -> list[Any]:
    assert all(isinstance(r, ig.Prediction) for r in results), results
    return [r.output for r in results]


def test_keras_export_with_named_inputs(models: dict[str, Path], tmp_path: Path) -> None:
    handler = ig.handler("tensorflow", path=str(models["keras_dict_inputs"]))
    # Keras takes [N, 1] for a one-value input: a plain number per example fills it.
    rows = [{"age": 1.0, "clicks": [1.0, 2.0, 3.0]}, {"age": 2.0, "clicks": [0, 0, 1]}]
    outputs = every_prediction(check_handler(handler, rows))
    assert [o.shape for o in outputs] == [(1,), (1,)]
    np.testing.assert_allclose(np.concatenate(outputs), [7.0, 3.0])
    block = ig.Block({"age": np.array([[1.0], [2.0]]), "clicks": np.ones((2, 3))})
    (result,) = ig.predict(handler, [block])
    np.testing.assert_allclose(result.output, [[4.0], [5.0]])
    records = [
        {"id": "a", "age": 1, "clicks": [1, 2, 3]},
        {"id": "wide", "age": 1, "clicks": [1, 2]},
        {"id": "text", "age": "old", "clicks": [1, 2, 3]},
    ]
    written, failures = predict_jsonl("tensorflow", models["keras_dict_inputs"], records, tmp_path)
    assert written["a"]["output"] == [7.0]
    assert "input 'clicks' expects shape [None, 3] (float32)" in failures["wide"]["message"]
    assert "input 'age' expects float32 numbers; the batch holds text" in (
        failures["text"]["message"]
    )


def test_an_export_archive_with_two_endpoints(models: dict[str, Path]) -> None:
    path = models["keras_two_endpoints"]
    rows = [np.ones(4, np.float32), np.array([0, 0, 0, 1], np.float32)]
    predicted = every_prediction(
        check_handler(ig.handler("tensorflow", path=str(path), signature="predict"), rows)
    )
    np.testing.assert_allclose(np.concatenate(predicted), [8.0, 2.0])
    embedded = every_prediction(
        list(ig.predict(ig.handler("tensorflow", path=str(path), signature="embed"), rows))
    )
    np.testing.assert_allclose(np.stack(embedded), [[4.0, 4.0], [1.0, 1.0]])
    with pytest.raises(ig.ModelLoadError, match=r"\['embed', 'predict', 'serving_default'\]"):
        ig.handler("tensorflow", path=str(path), signature="serve").load()


def test_a_module_with_dict_inputs_and_outputs(models: dict[str, Path], tmp_path: Path) -> None:
    path = models["module_signatures"]
    handler = ig.handler("tensorflow", path=str(path))
    rows = [{"age": 1.0, "clicks": [1, 2, 3]}, {"clicks": [0, 0, 1], "age": 2.0}]
    first, second = every_prediction(check_handler(handler, rows))
    assert first == {"busy": True, "score": 7.0} and second == {"busy": False, "score": 3.0}
    assert isinstance(first["busy"], np.bool_) and first["score"].dtype == np.float32
    block = ig.Block({"age": np.zeros(3), "clicks": np.full((3, 3), 2)})
    (result,) = ig.predict(handler, [block])
    np.testing.assert_array_equal(result.output["busy"], [True] * 3)
    totals = ig.handler("tensorflow", path=str(path), signature="clicks_total")
    assert every_prediction(list(ig.predict(totals, [[1, 2, 3], [0, 0, 1]]))) == [6, 1]
    records = [
        {"id": "a", "age": 1, "clicks": [1, 2, 3]},
        {"id": "half", "age": 1, "clicks": [1.5, 2, 3]},
        {"id": "none", "age": None, "clicks": [1, 2, 3]},
    ]
    written, failures = predict_jsonl("tensorflow", path, records, tmp_path)
    assert written["a"]["output"] == {"busy": True, "score": 7.0}
    assert "input 'clicks' expects int64 integers" in failures["half"]["message"]
    assert "input 'age' expects float32 numbers" in failures["none"]["message"]


def test_a_signature_on_serialized_examples(models: dict[str, Path], tmp_path: Path) -> None:
    path = models["parses_examples"]
    handler = ig.handler("tensorflow", path=str(path))
    protos = [example(clicks=3, city="paris"), example(clicks=1, city="oslo")]
    first, second = every_prediction(check_handler(handler, protos))
    np.testing.assert_allclose(first["score"], [6.0])
    assert list(first["city"]) == [b"PARIS"] and list(second["city"]) == [b"OSLO"]
    # Dict examples become tf.train.Example protos: rows from JSONL, CSV or a block of columns.
    dicts = [("d", {"clicks": 3, "city": "paris"}), ("bad", {"clicks": 3, "city": None})]
    results = {r.key: r for r in ig.predict(handler, [*dicts, ("p", protos[1])])}
    assert isinstance(results["d"], ig.Prediction) and isinstance(results["p"], ig.Prediction)
    np.testing.assert_allclose(results["d"].output["score"], [6.0])
    assert results["bad"].error_type == "InputError"
    assert "feature 'city' holds None, which a tf.train.Example cannot hold" in (
        results["bad"].message
    )
    block = ig.Block({"clicks": np.array([1, 2]), "city": np.array(["rome", "oslo"])})
    (result,) = ig.predict(handler, [block])
    np.testing.assert_allclose(result.output["score"], [[2.0], [4.0]])
    records = [
        {"id": "a", "clicks": 2, "city": "rome"},
        {"id": "missing", "clicks": 2, "town": "rome"},
        {"id": "float", "clicks": 2.5, "city": "rome"},
        {"id": "one", "clicks": 2},
    ]
    written, failures = predict_jsonl("tensorflow", path, records, tmp_path)
    assert written["a"]["output"]["score"] == [4.0]
    assert written["a"]["output"]["city"] == ["ROME"]  # UTF-8 bytes as text, as TF Serving writes
    assert failures["missing"]["error_type"] == "InvalidArgumentError"
    assert "city" in failures["missing"]["message"]
    assert failures["float"]["message"].endswith(
        "feature 'clicks' holds float values but the model parses it as int64: give it int64 "
        "values"
    )
    # A record's only field reaches the parsing signature as a record too (takes_records):
    # its tf.train.Example lacks the feature 'city', as 'missing' does.
    assert failures["one"]["error_type"] == "InvalidArgumentError"
    assert "city" in failures["one"]["message"]


def test_string_tensors_in_and_out(models: dict[str, Path]) -> None:
    handler = ig.handler("tensorflow", path=str(models["strings"]))
    rows = ["hello", "héllo", b"bytes"]
    outputs = every_prediction(check_handler(handler, rows))
    assert [o["upper"] for o in outputs] == [b"HELLO", "HéLLO".encode(), b"BYTES"]
    assert [int(o["length"]) for o in outputs] == [5, 6, 5]  # bytes, as tf.strings counts
    (block,) = ig.predict(handler, [ig.Block(np.array(["a", "bc"]))])
    assert list(block.output["length"]) == [1, 2]
    results = list(ig.predict(handler, [("n", 3), ("none", None), ("ok", "x")]))
    assert isinstance(results[2], ig.Prediction)
    assert "input 'text' expects string text; the batch holds values of kind 'i'" in (
        results[0].message
    )
    assert "input 'text' expects string text; the batch holds NoneType None" in results[1].message


def test_a_signature_with_a_fixed_batch_size(models: dict[str, Path]) -> None:
    handler = ig.handler("tensorflow", path=str(models["fixed_batch"]), max_batch_size=64)
    assert handler.fixed_batch_size(handler.load()) == 4
    rows = np.arange(15, dtype=np.float32).reshape(5, 3)
    stats = ig.RunStats()
    outputs = every_prediction(list(ig.predict(handler, list(rows), metrics=stats)))
    np.testing.assert_allclose(np.stack(outputs), rows + 1)
    assert stats.counters["padded_examples"] == 3
    (block,) = ig.predict(handler, [ig.Block(rows)])
    np.testing.assert_allclose(block.output, rows + 1)
    (on_beam,) = run_on_beam(handler, [("blk", ig.Block(rows))])
    np.testing.assert_allclose(on_beam.output, rows + 1)


def test_a_scalar_per_batch_is_refused_at_load(models: dict[str, Path], tmp_path: Path) -> None:
    path = models["batch_scalar"]
    with pytest.raises(ig.ModelLoadError) as caught:
        ig.handler("tensorflow", path=str(path)).load()
    message = str(caught.value)
    assert "signature 'serving_default'" in message
    assert "has outputs without a batch axis: 'mean' (shape [])" in message
    assert "set output_names to the batched outputs, ['y']" in message
    with pytest.raises(ig.ModelLoadError, match="'mean' \\(shape \\[\\]\\)"):
        ig.handler("tensorflow", path=str(path), output_names=["y", "mean"]).load()
    with pytest.raises(ig.ModelLoadError, match="export the model with a batch"):
        ig.handler("tensorflow", path=str(path), signature="mean_only").load()
    handler = ig.handler("tensorflow", path=str(path), output_names=["y"])
    outputs = every_prediction(check_handler(handler, [[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(np.stack(outputs), [[2.0, 4.0], [6.0, 8.0]])
    records = [{"id": "a", "x": [1.0, 2.0]}]
    written, _ = predict_jsonl("tensorflow", path, records, tmp_path, 'output_names=["y"]')
    assert written["a"]["output"] == [2.0, 4.0]
