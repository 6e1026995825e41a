"""The Open Inference Protocol v2 on a real server, spoken by Triton's own HTTP client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import tritonclient.http as triton

import infergraph as ig
from infergraph.serve import create_app
from tests import onnx_models
from tests.serve.conftest import serving


def _client(base: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(base.removeprefix("http://"))


def _input(name: str, array: np.ndarray, datatype: str, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


@pytest.mark.parametrize("binary", [False, True])
def test_triton_client_health_metadata_and_fp32(five_graph: ig.Graph, binary: bool) -> None:
    with serving(create_app(five_graph)) as base:
        client = _client(base)
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("five")
        metadata = client.get_model_metadata("five")
        assert metadata["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 1]}]
        assert metadata["outputs"] == [{"name": "five", "datatype": "FP32", "shape": [-1, 1]}]
        x = np.array([[1.0], [2.5], [-3.0]], dtype=np.float32)
        outputs = [triton.InferRequestedOutput("five", binary_data=binary)]
        result = client.infer("five", [_input("x", x, "FP32", binary)], outputs=outputs)
        np.testing.assert_array_equal(result.as_numpy("five"), x * 5)
        assert result.as_numpy("five").dtype == np.float32
        version = metadata["versions"][0]
        assert result.get_response()["model_version"] == version
        again = client.infer("five", [_input("x", x, "FP32", binary)], model_version=version)
        np.testing.assert_array_equal(again.as_numpy("five"), x * 5)
        with pytest.raises(triton.InferenceServerException, match="has no version '7'"):
            client.infer("five", [_input("x", x, "FP32", binary)], model_version="7")


def test_fp64_is_cast_to_the_model_input(five_graph: ig.Graph) -> None:
    with serving(create_app(five_graph)) as base:
        x = np.array([[0.5], [4.0]], dtype=np.float64)
        result = _client(base).infer("five", [_input("x", x, "FP64", True)])
        np.testing.assert_array_equal(result.as_numpy("five"), (x * 5).astype(np.float32))


def test_int64_in_and_out(tmp_path: Path) -> None:
    graph = ig.Graph("count")
    graph.model("up", "onnx", path=str(onnx_models.count_up(tmp_path / "up.onnx")))
    graph.chain("up")
    with serving(create_app(graph)) as base:
        x = np.array([[1, 2], [10, 20]], dtype=np.int64)
        result = _client(base).infer("count", [_input("x", x, "INT64", True)])
        assert result.as_numpy("up").dtype == np.int64
        np.testing.assert_array_equal(result.as_numpy("up"), x + 1)


def _shout(text: Any) -> str:
    return (text.decode() if isinstance(text, bytes) else str(text)).upper() + "!"


@pytest.mark.parametrize("binary", [False, True])
def test_bytes_in_and_out(binary: bool) -> None:
    graph = ig.Graph("shout")
    graph.function("shout", _shout)
    graph.chain("shout")
    with serving(create_app(graph)) as base:
        words = np.array(["héllo", "world"], dtype=object)
        outputs = [triton.InferRequestedOutput("shout", binary_data=binary)]
        result = _client(base).infer(
            "shout", [_input("text", words, "BYTES", binary)], outputs=outputs
        )
        got = [w.decode() if binary else w for w in result.as_numpy("shout")]
        assert got == ["HÉLLO!", "WORLD!"]


def _first_a(record: Any) -> float:
    return float(record["a"][0])


def test_outputs_selection_and_several_inputs(tmp_path: Path) -> None:
    graph = ig.Graph("pair")
    graph.model("sum", "onnx", path=str(onnx_models.two_inputs(tmp_path / "two.onnx")))
    graph.function("first_a", _first_a)
    graph.branch("sum", "first_a")
    with serving(create_app(graph)) as base:
        client = _client(base)
        a = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
        b = np.array([[10.0, 20.0], [30.0, 40.0]], dtype=np.float32)
        inputs = [_input("a", a, "FP32", True), _input("b", b, "FP32", False)]
        chosen = [triton.InferRequestedOutput("sum")]
        result = client.infer("pair", inputs, outputs=chosen)
        assert [o["name"] for o in result.get_response()["outputs"]] == ["sum"]
        np.testing.assert_array_equal(result.as_numpy("sum"), a + 2 * b)
        both = client.infer("pair", inputs)
        np.testing.assert_array_equal(both.as_numpy("first_a"), [1.0, 3.0])
        np.testing.assert_array_equal(both.as_numpy("sum"), a + 2 * b)


def _same(value: Any) -> Any:
    return value


@pytest.mark.parametrize(
    ("datatype", "data"),
    [
        ("BOOL", [[True, False], [False, True]]),
        ("INT8", [[-1, 2], [3, -4]]),
        ("UINT8", [[1, 2], [3, 255]]),
        ("INT32", [[1, -2], [3, 4]]),
        ("UINT64", [[1, 2], [3, 2**63]]),
        ("FP16", [[0.5, 1.5], [2.0, -1.0]]),
    ],
)
def test_json_datatypes_round_trip_nested_data(datatype: str, data: list[Any]) -> None:
    graph = ig.Graph("same")
    graph.function("same", _same)
    graph.chain("same")
    body = {"inputs": [{"name": "v", "shape": [2, 2], "datatype": datatype, "data": data}]}
    with serving(create_app(graph)) as base:
        answer = requests.post(f"{base}/v2/models/same/infer", json=body, timeout=10)
    (output,) = answer.json()["outputs"]
    assert (output["datatype"], output["shape"]) == (datatype, [2, 2])
    assert output["data"] == [x for row in data for x in row]
