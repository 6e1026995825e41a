"""Throughput of the remote handler against a local server that adds latency to every answer.

Runs, in one process and against one server (Vertex AI protocol on 127.0.0.1):

1. infergraph in-process (``ig.predict``) at concurrency 1 and at ``--concurrency``;
2. infergraph on Beam's DirectRunner (``ig.RunInference``);
3. Beam's own ``RemoteModelHandler`` (a minimal subclass posting the same Vertex requests with
   ``requests``; Beam's ``VertexAIModelHandlerJSON`` needs google-cloud-aiplatform and a real
   endpoint) under Beam's ``RunInference``.

Every run sends the same number of instances per request. Beam runs include pipeline start-up.

Usage::

    python benchmarks/remote_throughput.py --rows 8000 --latency-ms 50 --concurrency 8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import apache_beam as beam
import requests
from apache_beam.ml.inference.base import RemoteModelHandler
from apache_beam.ml.inference.base import RunInference as BeamRunInference

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import infergraph as ig
from tests.handlers.remote_server import PredictionServer

PATH = "/v1/projects/p/locations/l/endpoints/e:predict"


class BeamVertexLikeHandler(RemoteModelHandler[Any, Any, requests.Session]):
    """Beam's remote handler posting Vertex AI ``{"instances": [...]}`` requests."""

    def __init__(self, url: str, batch_size: int) -> None:
        super().__init__(namespace="BeamVertexLike", num_retries=5)
        self.url = url
        self.batch_size = batch_size

    def create_client(self) -> requests.Session:
        return requests.Session()

    def request(
        self, batch: Sequence[Any], model: requests.Session, inference_args: Any = None
    ) -> Iterable[Any]:
        response = model.post(self.url, data=json.dumps({"instances": list(batch)}), timeout=60)
        response.raise_for_status()
        return response.json()["predictions"]

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": self.batch_size, "max_batch_size": self.batch_size}


def _source(pipeline: beam.Pipeline, rows: int) -> Any:
    # A generator source: beam.Create(big_list) would pickle every element.
    return (
        pipeline
        | beam.Impulse()
        | beam.FlatMap(lambda _: ((i, i) for i in range(rows)))
    )


def _count(pcoll: Any, expected: int, label: str) -> None:
    def check(total: int) -> None:
        if total != expected:
            raise AssertionError(f"{label}: {total} results for {expected} rows")

    _ = pcoll | f"Count{label}" >> beam.combiners.Count.Globally() | beam.Map(check)


def run_infergraph_local(url: str, rows: int, concurrency: int, per_request: int) -> float:
    handler = _handler(url, concurrency, per_request)
    start = time.perf_counter()
    results = list(ig.predict(handler, ((i, i) for i in range(rows))))
    elapsed = time.perf_counter() - start
    assert len(results) == rows and all(isinstance(r, ig.Prediction) for r in results)
    assert [r.key for r in results] == list(range(rows))
    return rows / elapsed


def run_infergraph_beam(url: str, rows: int, concurrency: int, per_request: int) -> float:
    handler = _handler(url, concurrency, per_request)
    start = time.perf_counter()
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        predictions = _source(pipeline, rows) | ig.RunInference(handler)
        _count(predictions, rows, "Infergraph")
    return rows / (time.perf_counter() - start)


def run_beam_remote(url: str, rows: int, per_request: int) -> float:
    handler = BeamVertexLikeHandler(url + PATH, per_request)
    start = time.perf_counter()
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        predictions = (
            _source(pipeline, rows)
            | beam.Map(lambda kv: kv[1])
            | BeamRunInference(handler)
        )
        _count(predictions, rows, "Beam")
    return rows / (time.perf_counter() - start)


def _handler(url: str, concurrency: int, per_request: int) -> Any:
    return ig.handler(
        "remote", protocol="vertex", project="p", location="l", endpoint_id="e", endpoint=url,
        concurrency=concurrency, max_instances_per_request=per_request,
        max_batch_size=concurrency * per_request,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-request", type=int, default=32)
    args = parser.parse_args()
    import logging

    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    with PredictionServer(latency_s=args.latency_ms / 1000) as server:
        rows, per = args.rows, args.per_request
        table = [
            ("infergraph in-process", 1, run_infergraph_local(server.url, rows, 1, per)),
            ("infergraph in-process", args.concurrency,
             run_infergraph_local(server.url, rows, args.concurrency, per)),
            ("infergraph Beam DirectRunner", args.concurrency,
             run_infergraph_beam(server.url, rows, args.concurrency, per)),
            ("Beam RemoteModelHandler", 1, run_beam_remote(server.url, rows, per)),
        ]
    print(
        f"rows={rows} latency={args.latency_ms:.0f}ms instances/request={per} "
        f"(ceiling at concurrency c: {per * 1000 / args.latency_ms:.0f}*c rows/s)"
    )
    print(f"{'runner':<30} {'concurrency':>11} {'rows/s':>10}")
    for name, concurrency, rate in table:
        print(f"{name:<30} {concurrency:>11} {rate:>10.0f}")


if __name__ == "__main__":
    main()
