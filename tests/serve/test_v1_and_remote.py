"""TF Serving's v1 predict, and infergraph's own remote handler calling the served graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import requests

import infergraph as ig
from infergraph.serve import create_app
from tests import onnx_models
from tests.serve.conftest import serving, slow_graph


def _predict(base: str, model: str, body: object) -> requests.Response:
    return requests.post(f"{base}/v1/models/{model}:predict", json=body, timeout=10)


def test_v1_row_and_columnar_formats(five_graph: ig.Graph) -> None:
    with serving(create_app(five_graph)) as base:
        rows = _predict(base, "five", {"instances": [[1.0], [2.0]]})
        assert rows.status_code == 200, rows.text
        assert rows.json()["predictions"] == [[5.0], [10.0]]
        columns = _predict(base, "five", {"inputs": [[3.0]]})
        assert columns.json()["outputs"] == [[15.0]]
        status = requests.get(f"{base}/v1/models/five", timeout=10).json()
        assert status["model_version_status"][0]["state"] == "AVAILABLE"
        assert status["model_version_status"][0]["version"] == rows.json()["model_version"]


def test_v1_named_inputs_and_several_outputs(tmp_path: Path) -> None:
    graph = ig.Graph("pair")
    graph.model("sum", "onnx", path=str(onnx_models.two_inputs(tmp_path / "two.onnx")))
    graph.model(
        "split", "onnx", path=str(onnx_models.two_outputs(tmp_path / "out.onnx")), input_field="c"
    )
    graph.branch("sum", "split")
    with serving(create_app(graph)) as base:
        body = {"instances": [{"a": [1, 2], "b": [3, 4], "c": [1, 2, 3]}]}
        answer = _predict(base, "pair", body)
        assert answer.status_code == 200, answer.text
        (prediction,) = answer.json()["predictions"]
        assert prediction == {
            "sum": [7.0, 10.0],
            "split.double": [2.0, 4.0, 6.0],
            "split.negated": [-1.0, -2.0, -3.0],
        }
        columns = _predict(
            base, "pair", {"inputs": {"a": [[1, 1]], "b": [[1, 1]], "c": [[0, 0, 1]]}}
        )
        assert columns.json()["outputs"]["sum"] == [[3.0, 3.0]]


def test_v1_errors(five_graph: ig.Graph) -> None:
    with serving(create_app(five_graph)) as base:
        answer = _predict(base, "five", {"instances": [[1.0, 2.0]]})
        assert answer.status_code == 400 and "row 0: node 'five'" in answer.json()["error"]
        answer = _predict(base, "five", {"rows": []})
        assert answer.status_code == 400 and "`instances` or `inputs`" in answer.json()["error"]
        assert _predict(base, "six", {"instances": [[1.0]]}).status_code == 404


def test_v1_partial_results() -> None:
    with serving(create_app(slow_graph(reject=13.0))) as base:
        body = {"instances": [1.0, 13.0], "partial_results": True}
        answer = _predict(base, "slow", body)
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        assert doc["row_status"] == ["ok", "failed"] and doc["predictions"][0] == 5.0
        assert "refuses 13" in doc["row_errors"]["1"]
        failed = _predict(base, "slow", {"instances": [1.0, 13.0]})
        assert failed.status_code == 500 and failed.json()["error"].startswith("row 1: ")


@pytest.mark.parametrize("protocol", ["tf_serving", "v2"])
def test_the_remote_handler_on_the_served_graph_matches_in_process(
    five_onnx: Path, ten_onnx: Path, protocol: str
) -> None:
    graph = ig.Graph("chain")
    graph.model("five", "onnx", path=str(five_onnx))
    graph.model("ten", "onnx", path=str(ten_onnx))
    graph.chain("five", "ten")
    data = [(f"k{i}", np.array([float(i)], dtype=np.float32)) for i in range(20)]
    offline = [float(r["ten"][0]) for r in graph.run(data)]
    with serving(create_app(graph)) as base:
        remote = ig.Graph("online")
        remote.model("served", "remote", protocol=protocol, endpoint=base, model="chain")
        remote.chain("served")
        online = [np.asarray(r["served"]).reshape(-1)[0] for r in remote.run(data)]
    assert online == offline == [50.0 * i for i in range(20)]
