"""The dynamic batcher: concurrent requests share model calls and keep their own rows."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import requests

import infergraph as ig
from infergraph.serve import ServingSpec, create_app
from tests.serve.conftest import Slow, serving, slow_graph


def _one(base: str, value: float, **options: object) -> requests.Response:
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [value]}]}
    return requests.post(f"{base}/v2/models/slow/infer", json=body, timeout=30, **options)


def _metric(base: str, name: str) -> float:
    for line in requests.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def test_64_concurrent_requests_coalesce_and_keep_their_rows() -> None:
    app = create_app(slow_graph(sleep_s=0.02))
    with serving(app) as base, ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(lambda i: _one(base, float(i)), range(64)))
        for i, answer in enumerate(answers):
            assert answer.status_code == 200, answer.text
            assert answer.json()["outputs"][0]["data"] == [5.0 * i]
        calls = _metric(base, 'infergraph_node_model_calls_total{node="times"}')
        batches = _metric(base, 'infergraph_batch_size_count{node="times"}')
        rows = _metric(base, 'infergraph_batch_size_sum{node="times"}')
    assert rows == 64 and calls == batches < 64


def test_a_lone_request_waits_the_configured_delay_and_a_full_batch_does_not() -> None:
    limits = ServingSpec(max_queue_delay_ms=150, max_batch_size=4)
    with serving(create_app(slow_graph(), serving=limits)) as base:
        started = time.monotonic()
        assert _one(base, 1.0).status_code == 200
        assert time.monotonic() - started >= 0.15
        waited = _metric(base, 'infergraph_queue_wait_seconds_sum{model="slow"}')
        assert 0.15 <= waited < 1.0
    limits = ServingSpec(max_queue_delay_ms=20_000, max_batch_size=4)
    with serving(create_app(slow_graph(), serving=limits)) as base, ThreadPoolExecutor(4) as pool:
        started = time.monotonic()
        answers = list(pool.map(lambda i: _one(base, float(i)), range(4)))
        assert [a.json()["outputs"][0]["data"] for a in answers] == [[0.0], [5.0], [10.0], [15.0]]
        assert time.monotonic() - started < 10  # full at 4 rows: the 20 s delay is not spent


def test_a_request_past_its_deadline_leaves_without_harming_the_others() -> None:
    with serving(create_app(slow_graph(sleep_s=0.5))) as base, ThreadPoolExecutor(3) as pool:
        first = pool.submit(_one, base, 1.0)
        time.sleep(0.1)  # the first batch is running: the next ones wait for it
        late = pool.submit(_one, base, 2.0, headers={"Inference-Timeout-Ms": "100"})
        patient = pool.submit(_one, base, 3.0)
        assert late.result().status_code == 504
        assert "deadline" in late.result().json()["error"]
        assert first.result().json()["outputs"][0]["data"] == [5.0]
        assert patient.result().json()["outputs"][0]["data"] == [15.0]
        assert _metric(base, 'infergraph_queue_depth{model="slow"}') == 0
        rows = _metric(base, 'infergraph_batch_size_sum{node="times"}')
    assert rows == 2  # the late request's row never ran


def test_a_full_queue_answers_503_with_retry_after() -> None:
    limits = ServingSpec(max_queue_rows=2)
    with serving(create_app(slow_graph(sleep_s=0.3), serving=limits)) as base:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: _one(base, float(i)), range(8)))
        refused = [a for a in answers if a.status_code == 503]
        assert refused and all(a.headers["Retry-After"] == "1" for a in refused)
        for i, answer in enumerate(answers):
            if answer.status_code == 200:
                assert answer.json()["outputs"][0]["data"] == [5.0 * i]
        assert {a.status_code for a in answers} == {200, 503}


def test_a_client_that_disconnects_leaves_the_queue() -> None:
    limits = ServingSpec(max_queue_delay_ms=600, max_batch_size=64)
    with serving(create_app(slow_graph(), serving=limits)) as base:
        port = int(base.rsplit(":", 1)[1])
        body = json.dumps(
            {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [7.0]}]}
        ).encode()
        head = (
            f"POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            f"\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        with ThreadPoolExecutor(1) as pool:
            with socket.create_connection(("127.0.0.1", port)) as gone:
                gone.sendall(head + body)
                time.sleep(0.1)  # queued, waiting for the batch's delay
                stayed = pool.submit(_one, base, 2.0)
            assert stayed.result().json()["outputs"][0]["data"] == [10.0]
        rows = _metric(base, 'infergraph_batch_size_sum{node="times"}')
    assert rows == 1  # the row of the client that left never ran


def test_requests_batched_together_keep_their_own_outputs() -> None:
    graph = ig.Graph("two")
    graph.model("five", Slow(factor=5.0, sleep_s=0.02))
    graph.model("ten", Slow(factor=10.0))
    graph.branch("five", "ten")

    def ask(i: int) -> tuple[int, requests.Response]:
        body = {
            "inputs": [{"name": "x", "shape": [2, 1], "datatype": "FP64", "data": [i, -i]}],
            "outputs": [{"name": "five" if i % 2 else "ten"}],
        }
        return i, requests.post(f"{base}/v2/models/two/infer", json=body, timeout=30)

    with serving(create_app(graph)) as base, ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(ask, range(32)))
        batches = _metric(base, 'infergraph_batch_size_count{node="five"}')
    for i, answer in answers:
        (output,) = answer.json()["outputs"]
        factor = 5.0 if i % 2 else 10.0
        assert output["name"] == ("five" if i % 2 else "ten")
        assert output["data"] == [factor * i, -factor * i]
    assert batches < 32
