"""Bad requests get a clear error, rows that fail name their row and node, and the server keeps
serving."""

from __future__ import annotations

import json

import pytest
import requests

import infergraph as ig
from infergraph.serve import ServingSpec, create_app
from tests.serve.conftest import serving, slow_graph


def _tensor(data: list[float], shape: list[int] | None = None, datatype: str = "FP32") -> dict:
    shape = shape or [len(data), 1]
    return {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}


def _infer(base: str, model: str, body: object, **options: object) -> requests.Response:
    return requests.post(f"{base}/v2/models/{model}/infer", json=body, timeout=10, **options)


BAD = [
    (_tensor([1.0, 2.0, 3.0], [3, 2]), 400, "3 elements do not fill shape [3, 2]"),
    (_tensor([1.0], datatype="FP99"), 400, "unknown datatype 'FP99'"),
    (_tensor([1.5], datatype="INT64"), 400, "INT64 data must be whole numbers"),
    (_tensor([300], datatype="INT8"), 400, "INT8 data must lie in [-128, 127]"),
    (_tensor([-1, 2**64], datatype="UINT64"), 400, "must be numbers that fit UINT64"),
    (
        {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
        400,
        "row 0: node 'five' failed in run: InputError: input 'x' expects shape [None, 1]",
    ),
    ({"input": []}, 400, "needs `inputs`"),
    (_tensor([], [0, 1]), 400, "at least one row"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD)
def test_bad_requests_are_refused_clearly(
    five_graph: ig.Graph, body: dict, status: int, message: str
) -> None:
    with serving(create_app(five_graph)) as base:
        answer = _infer(base, "five", body)
        assert answer.status_code == status, answer.text
        assert message in answer.json()["error"]
        assert _infer(base, "five", _tensor([2.0])).json()["outputs"][0]["data"] == [10.0]


def test_unknown_model_not_json_too_large_too_deep(five_graph: ig.Graph) -> None:
    limits = ServingSpec(max_body_bytes=2000, max_json_depth=8)
    with serving(create_app(five_graph, serving=limits)) as base:
        unknown = _infer(base, "six", _tensor([1.0]))
        assert unknown.status_code == 404 and "serves 'five'" in unknown.json()["error"]
        url = f"{base}/v2/models/five/infer"
        garbage = requests.post(url, data=b"{not json", timeout=10)
        assert garbage.status_code == 400 and "not JSON" in garbage.json()["error"]
        large = _infer(base, "five", _tensor([1.0] * 1000))
        assert large.status_code == 413 and "max_body_bytes" in large.json()["error"]
        deep = requests.post(url, data=b"[" * 20 + b"]" * 20, timeout=10)
        assert deep.status_code == 400 and "max_json_depth" in deep.json()["error"]
        deeper = requests.post(url, data=b"[" * 1900, timeout=10)
        assert deeper.status_code == 400
        assert _infer(base, "five", _tensor([3.0])).json()["outputs"][0]["data"] == [15.0]


def test_too_many_elements(five_graph: ig.Graph) -> None:
    with serving(create_app(five_graph, serving=ServingSpec(max_elements=4))) as base:
        answer = _infer(base, "five", _tensor([1.0] * 5))
        assert answer.status_code == 413 and "max_elements" in answer.json()["error"]
        claims = _infer(base, "five", _tensor([1.0], [10**9, 1]))
        assert claims.status_code == 413


def test_a_model_error_is_500_naming_row_and_node() -> None:
    with serving(create_app(slow_graph(reject=13.0))) as base:
        answer = _infer(base, "slow", _tensor([1.0, 13.0, 2.0]))
        assert answer.status_code == 500
        error = answer.json()["error"]
        assert error.startswith("row 1: node 'times' failed in run: ValueError: the model refuses")
        assert "row 0" not in error and "partial_results" in error


def test_partial_results_give_per_row_statuses() -> None:
    with serving(create_app(slow_graph(reject=13.0))) as base:
        body = {**_tensor([1.0, 13.0, 2.0]), "parameters": {"partial_results": True}}
        answer = _infer(base, "slow", body)
        assert answer.status_code == 200, answer.text
        doc = answer.json()
        assert doc["parameters"]["row_status"] == ["ok", "failed", "ok"]
        assert "refuses 13" in doc["parameters"]["row_errors"]["1"]
        assert doc["outputs"][0]["data"][0] == 5.0 and doc["outputs"][0]["data"][2] == 10.0


def test_request_id_is_echoed(five_graph: ig.Graph) -> None:
    with serving(create_app(five_graph)) as base:
        body = {**_tensor([1.0]), "id": "abc-1"}
        answer = _infer(base, "five", body, headers={"X-Request-Id": "trace-7"})
        assert answer.json()["id"] == "abc-1"
        assert answer.headers["x-request-id"] == "trace-7"
        assert json.loads(answer.content)["model_name"] == "five"
