"""Hot reload: a replaced model file swaps in under load; a broken one leaves the old in place."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import requests

import infergraph as ig
from infergraph.serve import ServingSpec, create_app
from tests import onnx_models
from tests.serve.conftest import serving

BODY = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}


def _graph(path: Path) -> ig.Graph:
    graph = ig.Graph("model")
    graph.model("m", "onnx", path=str(path))
    graph.chain("m")
    return graph


def _replace(path: Path, factor: float) -> None:
    fresh = onnx_models.linear(path.with_suffix(".new"), factor)
    os.replace(fresh, path)


def test_a_replaced_model_file_swaps_in_under_load(tmp_path: Path) -> None:
    path = onnx_models.linear(tmp_path / "m.onnx", 5.0)
    app = create_app(_graph(path), serving=ServingSpec(reload_poll_s=0.05))
    answers: list[tuple[int, float, str]] = []
    stop = threading.Event()
    with serving(app) as base:

        def load() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    r = session.post(f"{base}/v2/models/model/infer", json=BODY, timeout=10)
                    doc = r.json()
                    value = doc["outputs"][0]["data"][0] if r.status_code == 200 else -1.0
                    answers.append((r.status_code, value, doc.get("model_version", "")))

        workers = [threading.Thread(target=load) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(0.3)
        _replace(path, 10.0)
        deadline = time.monotonic() + 10
        while not answers or answers[-1][1] != 10.0:
            assert time.monotonic() < deadline, "the new model never answered"
            time.sleep(0.02)
        time.sleep(0.2)
        stop.set()
        for worker in workers:
            worker.join()
    assert {status for status, _, _ in answers} == {200}
    values = [value for _, value, _ in answers]
    assert set(values) == {5.0, 10.0} and values[-1] == 10.0
    versions = {value: {v for _, x, v in answers if x == value} for value in (5.0, 10.0)}
    assert len(versions[5.0]) == len(versions[10.0]) == 1 and versions[5.0] != versions[10.0]


def test_a_model_that_fails_to_load_leaves_the_old_one(tmp_path: Path) -> None:
    path = onnx_models.linear(tmp_path / "m.onnx", 5.0)
    app = create_app(_graph(path), serving=ServingSpec(reload_poll_s=None))
    with serving(app) as base:
        path.write_bytes(b"not an onnx model")
        load = requests.post(f"{base}/v2/repository/models/model/load", timeout=10)
        assert load.status_code == 400
        error = load.json()["error"]
        assert "the old one still serves" in error and "m.onnx" in error
        answer = requests.post(f"{base}/v2/models/model/infer", json=BODY, timeout=10)
        assert answer.json()["outputs"][0]["data"] == [5.0]
        _replace(path, 10.0)
        load = requests.post(f"{base}/v2/repository/models/model/load", timeout=10)
        assert load.status_code == 200 and load.json()["model_files"]["m"].startswith("m.onnx@")
        answer = requests.post(f"{base}/v2/models/model/infer", json=BODY, timeout=10)
        assert answer.json()["outputs"][0]["data"] == [10.0]
        assert answer.json()["model_version"] == load.json()["model_version"]
