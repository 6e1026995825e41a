"""The onnx handler on models exported the way users export them (see ``onnx_exports``): per
row, in blocks, on the Beam DirectRunner and through ``infergraph predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import infergraph as ig
from infergraph.cli import main
from infergraph.testing import check_handler, outputs_close, outputs_equal, run_on_beam
from tests.handlers import onnx_exports
from tests.handlers.cli_predict import predict_jsonl
from tests.handlers.onnx_exports import SPECIES

pytestmark = pytest.mark.slow  # Beam pipelines and infergraph predict runs


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("onnx_exports")
    return {
        "classifier": onnx_exports.sklearn_classifier(base / "classifier.onnx"),
        "classifier_tensor": onnx_exports.sklearn_classifier(
            base / "classifier_tensor.onnx", zipmap=False
        ),
        "regressor": onnx_exports.sklearn_regressor(base / "regressor.onnx"),
        "pipeline": onnx_exports.sklearn_pipeline(base / "pipeline.onnx"),
        "tabular": onnx_exports.sklearn_tabular(base / "tabular.onnx"),
    }


ROWS = onnx_exports.training_data()[0][[0, 40, 80, 5]]


def keyed(rows: Any) -> list[tuple[str, Any]]:
    return [(f"r{i}", row) for i, row in enumerate(rows)]


def every_prediction(results: list[Any]) -> list[Any]:
    assert all(isinstance(r, ig.Prediction) for r in results), results
    return [r.output for r in results]


# -- scikit-learn through skl2onnx -------------------------------------------------------------


def test_a_zipmap_classifier_gives_a_label_and_a_dict_of_probabilities(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    path, model = exported["classifier"]
    handler = ig.handler("onnx", path=str(path))
    outputs = every_prediction(check_handler(handler, list(ROWS)))
    assert [o["output_label"] for o in outputs] == list(model.predict(ROWS))
    for output, expected in zip(outputs, model.predict_proba(ROWS), strict=True):
        probabilities = output["output_probability"]
        assert isinstance(probabilities, dict) and list(probabilities) == list(SPECIES)
        np.testing.assert_allclose(list(probabilities.values()), expected, rtol=1e-4, atol=1e-6)
    for size in (64, 3):  # one chunk, and chunks joined back into one block output
        chunked = ig.handler("onnx", path=str(path), max_batch_size=size)
        (block,) = ig.predict(chunked, [("blk", ig.Block(ROWS))])
        assert isinstance(block, ig.Prediction)
        assert list(block.output["output_label"]) == list(model.predict(ROWS))
        column = block.output["output_probability"]
        assert isinstance(column, np.ndarray) and column.shape == (4,)
        assert outputs_close(list(column), [o["output_probability"] for o in outputs])

    records = [{"id": f"r{i}", "x": row.tolist()} for i, row in enumerate(ROWS)]
    records.append({"id": "short", "x": [1.0, 2.0]})
    written, failures = predict_jsonl("onnx", path, records, tmp_path)
    assert written["r0"]["output"]["output_label"] == "setosa"
    assert set(written["r0"]["output"]["output_probability"]) == set(SPECIES)
    assert "expects shape [None, 4]" in failures["short"]["message"]


def test_a_classifier_without_zipmap_gives_arrays(exported: dict[str, Any]) -> None:
    path, model = exported["classifier_tensor"]
    handler = ig.handler("onnx", path=str(path))
    outputs = every_prediction(check_handler(handler, list(ROWS)))
    assert [o["label"] for o in outputs] == list(model.predict(ROWS))
    probabilities = np.stack([o["probabilities"] for o in outputs])
    assert probabilities.shape == (4, 3) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities, model.predict_proba(ROWS), rtol=1e-4, atol=1e-6)
    (block,) = ig.predict(handler, [ig.Block(ROWS)])
    assert outputs_equal(block.output["probabilities"], probabilities)


def test_a_regressor_gives_one_value_per_row(exported: dict[str, Any], tmp_path: Path) -> None:
    path, model = exported["regressor"]
    handler = ig.handler("onnx", path=str(path), max_batch_size=3)
    outputs = every_prediction(check_handler(handler, list(ROWS)))
    assert all(o.shape == (1,) for o in outputs)
    np.testing.assert_allclose(np.concatenate(outputs), model.predict(ROWS), rtol=1e-4)
    (block,) = ig.predict(handler, [ig.Block(ROWS)])
    assert block.output.shape == (4, 1)
    records = [{"id": "a", "x": ROWS[0].tolist()}, {"id": "text", "x": ["a", "b", "c", "d"]}]
    written, failures = predict_jsonl("onnx", path, records, tmp_path)
    assert written["a"]["output"] == pytest.approx([float(model.predict(ROWS[:1])[0])], rel=1e-4)
    assert failures["text"]["error_type"] == "InputError"
    assert "input 'input' expects tensor(float) numbers" in failures["text"]["message"]


def test_a_pipeline_with_a_scaler(exported: dict[str, Any]) -> None:
    path, model = exported["pipeline"]
    handler = ig.handler("onnx", path=str(path))
    outputs = every_prediction(check_handler(handler, list(ROWS)))
    assert [int(o["output_label"]) for o in outputs] == list(model.predict(ROWS))
    assert list(outputs[0]["output_probability"]) == [0, 1, 2]  # integer labels stay integers
    got = [list(o["output_probability"].values()) for o in outputs]
    np.testing.assert_allclose(got, model.predict_proba(ROWS), rtol=1e-4, atol=1e-6)


def test_a_table_with_a_text_column(exported: dict[str, Any], tmp_path: Path) -> None:
    path, _ = exported["tabular"]
    handler = ig.handler("onnx", path=str(path))
    # One input per column, [N, 1] each: a plain value per example fills it.
    rows = [{"city": "paris", "age": 20.0}, {"city": "oslo", "age": 70.0}]
    outputs = every_prediction(check_handler(handler, rows))
    assert [int(o["label"]) for o in outputs] == [0, 1]
    (as_lists,) = ig.predict(handler, [{"city": ["oslo"], "age": [70.0]}])
    assert int(as_lists.output["label"]) == 1
    (as_bytes,) = ig.predict(handler, [{"city": b"oslo", "age": 70.0}])  # UTF-8 bytes are text
    np.testing.assert_array_equal(as_bytes.output["probabilities"], outputs[1]["probabilities"])
    block = ig.Block({"city": np.array(["rome", "oslo"]), "age": np.array([30.0, 75.0])})
    (result,) = ig.predict(handler, [block])
    assert list(result.output["label"]) == [0, 1]
    bad = [("number", {"city": 3, "age": 20.0}), ("none", {"city": None, "age": 20.0})]
    failures = list(ig.predict(handler, [*bad, ("ok", rows[0])]))
    assert [f.key for f in failures] == ["number", "none", "ok"]
    assert isinstance(failures[2], ig.Prediction)
    for failure in failures[:2]:
        assert isinstance(failure, ig.Failure) and failure.error_type == "InputError"
        assert "input 'city' expects tensor(string) text" in failure.message
        assert "Pass strings" in failure.message

    records = [{"id": "a", "city": "rome", "age": 35}, {"id": "b", "city": 1, "age": 35}]
    written, failures_by_id = predict_jsonl("onnx", path, records, tmp_path)
    assert written["a"]["output"]["label"] == 0
    assert "input 'city' expects tensor(string) text" in failures_by_id["b"]["message"]


# -- built with onnx.helper ------------------------------------------------------------------


def test_several_typed_inputs_and_outputs(tmp_path: Path) -> None:
    path = onnx_exports.mixed_inputs(tmp_path / "mixed.onnx")
    handler = ig.handler("onnx", path=str(path))
    rows = [
        {"ids": [1, 2, 3], "names": "ada", "x": [1.0, 2.0]},
        {"names": "bo", "x": [0.5, 0.0], "ids": np.array([4, 5, 6])},
    ]
    first, second = every_prediction(check_handler(handler, rows))
    assert sorted(first) == ["next_ids", "scaled", "shout"]
    assert first["next_ids"].dtype == np.int64 and list(first["next_ids"]) == [2, 3, 4]
    assert first["shout"] == "ADA" and second["shout"] == "BO"
    np.testing.assert_array_equal(second["scaled"], np.array([1.0, 0.0], np.float32))
    names = np.array(["a", "b", "c"])
    block = ig.Block({"ids": np.zeros((3, 3), np.int64), "names": names, "x": np.ones((3, 2))})
    (result,) = ig.predict(handler, [block])
    assert list(result.output["shout"]) == ["A", "B", "C"]
    bad = [
        ("half", {"ids": [1.5, 2, 3], "names": "a", "x": [1.0, 2.0]}),
        ("missing", {"ids": [1, 2, 3], "x": [1.0, 2.0]}),
    ]
    results = {r.key: r for r in ig.predict(handler, [*bad, ("ok", rows[0])])}
    assert isinstance(results["ok"], ig.Prediction)
    assert "input 'ids' expects tensor(int64) integers" in results["half"].message
    assert "every example in a batch needs the fields" in results["missing"].message or (
        "lacks input 'names'" in results["missing"].message
    )

    records = [{"id": "a", **rows[0]}, {"id": "b", "ids": [1, 2, 3], "names": 7, "x": [1, 2]}]
    written, failures = predict_jsonl("onnx", path, records, tmp_path)
    assert written["a"]["output"] == {"next_ids": [2, 3, 4], "shout": "ADA", "scaled": [2.0, 4.0]}
    assert "input 'names' expects tensor(string) text" in failures["b"]["message"]


def test_scalar_outputs_fail_every_row_naming_the_batched_outputs(tmp_path: Path) -> None:
    # ONNX Runtime reports a scalar and an unknown shape alike: the rows are checked per batch.
    path = onnx_exports.with_scalar_outputs(tmp_path / "scalar.onnx")
    handler = ig.handler("onnx", path=str(path))
    results = list(ig.predict(handler, keyed([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])))
    assert [r.key for r in results] == ["r0", "r1", "r2"]
    assert all(isinstance(r, ig.Failure) and r.error_type == "BatchError" for r in results)
    assert "output 'version' has shape [], not one row per example (3)" in results[0].message
    assert "select the batched outputs with output_names=['y']" in results[0].message
    chosen = ig.handler("onnx", path=str(path), output_names=["y"])
    (result,) = ig.predict(chosen, [[1.0, 2.0]])
    np.testing.assert_array_equal(result.output, [2.0, 4.0])


def test_outputs_with_another_leading_dim_are_refused_at_load(tmp_path: Path) -> None:
    path = onnx_exports.with_other_leading_dim(tmp_path / "lead.onnx")
    with pytest.raises(ig.ModelLoadError) as caught:
        ig.handler("onnx", path=str(path)).load()
    message = str(caught.value)
    assert "has outputs without a batch axis: 'classes' (shape [3]), 'shape' (shape [2])" in (
        message
    )
    assert "set output_names to the batched outputs, ['y']" in message
    handler = ig.handler("onnx", path=str(path), output_names=["y"])
    (result,) = ig.predict(handler, [[1.0, 2.0]])
    np.testing.assert_array_equal(result.output, [2.0, 4.0])
    # Named outputs are the user's call: checked batch by batch.
    named = ig.handler("onnx", path=str(path), output_names=["y", "classes"], max_batch_size=2)
    results = list(ig.predict(named, [[1.0, 2.0], [3.0, 4.0]]))
    assert all(isinstance(r, ig.Failure) and r.error_type == "BatchError" for r in results)


def test_a_refused_model_is_an_error_on_beam_and_in_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = onnx_exports.with_other_leading_dim(tmp_path / "lead.onnx")
    with pytest.raises(Exception, match="has outputs without a batch axis"):
        run_on_beam(ig.handler("onnx", path=str(path)), [[1.0, 2.0]])
    source = tmp_path / "in.jsonl"
    source.write_text('{"x": [1.0, 2.0]}\n')
    args = ["predict", "--handler", "onnx", "--model", str(path), "--input", str(source)]
    assert main([*args, "--output", str(tmp_path / "out.jsonl"), "--no-progress"]) == 2
    assert "has outputs without a batch axis" in capsys.readouterr().err


def test_a_fixed_batch_size(tmp_path: Path) -> None:
    path = onnx_exports.fixed_batch(tmp_path / "fixed.onnx", batch=4)
    handler = ig.handler("onnx", path=str(path), max_batch_size=64)
    rows = np.arange(15, dtype=np.float32).reshape(5, 3)
    stats = ig.RunStats()
    outputs = every_prediction(list(ig.predict(handler, list(rows), metrics=stats)))
    np.testing.assert_array_equal(np.stack(outputs), rows + 1)
    assert stats.counters["padded_examples"] == 3
    (block,) = ig.predict(handler, [ig.Block(rows)])
    np.testing.assert_array_equal(block.output, rows + 1)
    on_beam = every_prediction(run_on_beam(handler, [(i, row) for i, row in enumerate(rows)]))
    assert len(on_beam) == 5


def test_a_sequence_input_is_refused_at_load(tmp_path: Path) -> None:
    path = onnx_exports.sequence_input(tmp_path / "sequence.onnx")
    with pytest.raises(ig.ModelLoadError) as caught:
        ig.handler("onnx", path=str(path)).load()
    message = str(caught.value)
    assert "has input 'items' of type seq(tensor(float))" in message
    assert "cannot feed" in message and "Export the model with tensor inputs" in message
