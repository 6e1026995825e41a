"""The Beam bridge, both ways, in real DirectRunner pipelines.

(a) Beam's own ``SklearnModelHandlerNumpy`` (a real fitted model, pickled) as an infergraph
handler: the registered ``beam`` handler and ``ig.from_beam``. (b) infergraph handlers (our
``onnx`` handler) inside Beam's own ``RunInference`` through ``ig.BeamModelHandler``.
"""

from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult
from apache_beam.ml.inference.base import RunInference as BeamRunInference
from apache_beam.ml.inference.sklearn_inference import SklearnModelHandlerNumpy
from sklearn.linear_model import LinearRegression

import infergraph as ig
from infergraph.cli import main
from infergraph.testing import check_handler, run_on_beam

SKLEARN = "apache_beam.ml.inference.sklearn_inference:SklearnModelHandlerNumpy"


@pytest.fixture(scope="module")
def sklearn_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted LinearRegression, y = 2a + 3b + 1, pickled as Beam's handler loads it."""
    rng = np.random.default_rng(0)
    features = rng.uniform(-10, 10, size=(50, 2))
    model = LinearRegression().fit(features, features @ [2.0, 3.0] + 1.0)
    path = tmp_path_factory.mktemp("sklearn") / "linear.pkl"
    path.write_bytes(pickle.dumps(model))
    return path


def expected(model_path: Path, rows: list[list[float]]) -> list[float]:
    model = pickle.loads(model_path.read_bytes())
    return [float(y) for y in model.predict(np.asarray(rows))]


def collect(pcoll: Any, directory: Path, name: str) -> None:
    """Write ``pcoll``'s elements as pickles under ``directory`` (read them with ``read``)."""
    _ = (
        pcoll
        | f"Pickle{name}" >> beam.Map(lambda x: base64.b64encode(pickle.dumps(x)).decode())
        | f"Write{name}" >> beam.io.WriteToText(str(directory / name))
    )


def read(directory: Path, name: str) -> list[Any]:
    lines = [line for path in directory.glob(f"{name}*") for line in path.read_text().split()]
    return [pickle.loads(base64.b64decode(line)) for line in lines]


# -- (a) a Beam handler as an infergraph handler -----------------------------------------------


def test_the_registered_beam_handler_runs_beams_sklearn_handler(sklearn_model: Path) -> None:
    handler = ig.handler("beam", factory=SKLEARN, kwargs={"model_uri": str(sklearn_model)})
    rows = [[1.0, 2.0], [0.5, -1.0], [3.0, 3.0]]
    predictions = check_handler(handler, rows)
    outputs = [float(p.output) for p in predictions]
    assert outputs == pytest.approx(expected(sklearn_model, rows))
    assert outputs == pytest.approx([9.0, -1.0, 16.0])
    assert handler.model_id == "beam:SklearnModelHandlerNumpy"


def test_from_beam_keeps_keys_and_isolates_a_bad_example(sklearn_model: Path) -> None:
    handler = ig.from_beam(SklearnModelHandlerNumpy(model_uri=str(sklearn_model)))
    data = [("a", [1.0, 2.0]), ("bad", [1.0, 2.0, 3.0]), ("c", [0.0, 0.0])]
    for results in (list(ig.predict(handler, data)), run_on_beam(handler, data)):
        by_key = {r.key: r for r in results}
        assert sorted(by_key) == ["a", "bad", "c"]
        assert float(by_key["a"].output) == pytest.approx(9.0)
        assert float(by_key["c"].output) == pytest.approx(1.0)
        failure = by_key["bad"]
        assert isinstance(failure, ig.Failure)
        assert (failure.stage, failure.node) == ("run", "beam:SklearnModelHandlerNumpy")
        assert "for key 'bad'" in failure.message


def test_from_beam_in_ig_run_inference_with_preprocessing(
    sklearn_model: Path, tmp_path: Path
) -> None:
    beam_handler = SklearnModelHandlerNumpy(model_uri=str(sklearn_model), max_batch_size=2)
    handler = ig.from_beam(beam_handler.with_preprocess_fn(lambda d: np.array([d["a"], d["b"]])))
    assert handler.config.max_batch_size == 2, "batch sizes come from the Beam handler"
    data = [(f"k{i}", {"a": float(i), "b": 1.0}) for i in range(5)]
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        predictions, failures = (
            pipeline | beam.Create(data) | ig.RunInference(handler).with_exception_handling()
        )
        collect(predictions, tmp_path, "predictions")
        collect(failures, tmp_path, "failures")
    assert read(tmp_path, "failures") == []
    got = {p.key: float(p.output) for p in read(tmp_path, "predictions")}
    assert got == pytest.approx({f"k{i}": 2.0 * i + 4.0 for i in range(5)})


def test_output_result_keeps_beams_prediction_result(sklearn_model: Path) -> None:
    handler = ig.from_beam(SklearnModelHandlerNumpy(model_uri=str(sklearn_model)), output="result")
    (prediction,) = ig.predict(handler, [[1.0, 1.0]])
    assert isinstance(prediction.output, PredictionResult)
    assert prediction.output.model_id == str(sklearn_model)
    assert float(prediction.output.inference) == pytest.approx(6.0)


def test_the_beam_handler_from_the_command_line(sklearn_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "x": [1.0, 2.0]}\n{"id": "b", "x": [2.0, 0.0]}\n')
    out = tmp_path / "out.jsonl"
    kwargs = json.dumps({"model_uri": str(sklearn_model)})
    args = ["predict", "--handler", "beam", "--set", f"factory={SKLEARN}"]
    args += ["--set", f"kwargs={kwargs}", "--input", str(source), "--output", str(out)]
    assert main([*args, "--key-field", "id", "--no-progress"]) == 0
    rows = {row["id"]: row["output"] for row in map(json.loads, out.read_text().splitlines())}
    assert rows == pytest.approx({"a": 9.0, "b": 5.0})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "handler 'beam' needs a Beam handler: set the config field 'factory'"),
        ({"factory": "no_colon"}, "factory 'no_colon' must be 'module:callable'"),
        ({"factory": "infergraph_nowhere:f"}, "cannot import 'infergraph_nowhere'"),
        ({"factory": "json:nothing"}, "module 'json' has no attribute 'nothing'"),
        ({"factory": "json:dumps"}, "failed with kwargs []: TypeError"),
        ({"factory": "json:loads", "kwargs": {"s": "1"}}, "gave int, which is not an apache_beam"),
    ],
)
def test_bad_factories_are_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ig.ConfigError, match=None) as info:
        handler = ig.handler("beam", **options)
        handler.load()
    assert message in str(info.value)


def test_a_keyed_beam_handler_is_refused(sklearn_model: Path) -> None:
    keyed = KeyedModelHandler(SklearnModelHandlerNumpy(model_uri=str(sklearn_model)))
    with pytest.raises(ig.ConfigError, match="pass the unkeyed handler inside it"):
        ig.from_beam(keyed)


# -- (b) an infergraph handler in Beam's own RunInference ----------------------------------------


def test_our_onnx_handler_in_beams_run_inference(five_onnx: Path, tmp_path: Path) -> None:
    onnx = ig.handler("onnx", path=str(five_onnx), max_batch_size=2, intra_op_threads=1)
    adapter = ig.BeamModelHandler(onnx)
    assert adapter.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 2}
    assert adapter.get_metrics_namespace() == f"infergraph.onnx:{five_onnx}"
    assert not adapter.share_model_across_processes()
    examples = [np.array([x], dtype=np.float32) for x in (1.0, 2.0, 3.0)]
    pairs = [("a", [105.0]), ("b", [108.0])]
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        unkeyed = pipeline | "Unkeyed" >> beam.Create(examples) | BeamRunInference(adapter)
        keyed = (
            pipeline
            | "Keyed" >> beam.Create(pairs)
            | "RunKeyed" >> BeamRunInference(KeyedModelHandler(adapter))
        )
        collect(unkeyed, tmp_path, "unkeyed")
        collect(keyed, tmp_path, "keyed")
    results = read(tmp_path, "unkeyed")
    assert all(isinstance(r, PredictionResult) for r in results)
    assert sorted(float(r.inference[0]) for r in results) == [5.0, 10.0, 15.0]
    assert {r.model_id for r in results} == {onnx.model_id}
    keyed_results = {key: float(result.inference[0]) for key, result in read(tmp_path, "keyed")}
    assert keyed_results == {"a": 525.0, "b": 540.0}


def test_a_failing_batch_goes_to_beams_dead_letter_output(five_onnx: Path, tmp_path: Path) -> None:
    adapter = ig.BeamModelHandler(ig.handler("onnx", path=str(five_onnx), max_batch_size=1))
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        good, dead = (
            pipeline
            | beam.Create([[1.0], "text"])
            | BeamRunInference(adapter).with_exception_handling()
        )
        collect(good, tmp_path, "good")
        collect(dead.failed_inferences, tmp_path, "dead")
    assert [float(r.inference[0]) for r in read(tmp_path, "good")] == [5.0]
    ((batch, error),) = read(tmp_path, "dead")  # Beam's dead letters are whole batches
    assert batch == ["text"]
    assert "run failed in model node" in str(error)


def test_a_model_that_fails_to_load_is_a_model_load_error(tmp_path: Path) -> None:
    adapter = ig.BeamModelHandler(ig.handler("onnx", path=str(tmp_path / "missing.onnx")))
    with pytest.raises(ig.ModelLoadError, match="not found"):
        adapter.load_model()
    with pytest.raises(ig.ConfigError, match="takes no inference_args"):
        adapter.validate_inference_args({"x": 1})


def test_both_ways_round_trip(five_onnx: Path) -> None:
    onnx = ig.handler("onnx", path=str(five_onnx))
    bridged = ig.from_beam(ig.BeamModelHandler(onnx))
    data = [("a", [2.0]), ("b", [3.0])]
    direct = [float(r.output[0]) for r in ig.predict(onnx, data)]
    assert [float(r.output[0]) for r in ig.predict(bridged, data)] == direct == [10.0, 15.0]
