"""Variants of the remote handler against a local endpoint that adds latency to every answer.

The endpoint (``tests.handlers.remote_server``, Vertex AI protocol on 127.0.0.1, in a thread of
the variant's process) doubles numbers and waits :data:`LATENCY_S` before each answer. Every
variant sends :data:`PER_REQUEST` instances per request, so one request at a time tops out at
``PER_REQUEST / LATENCY_S`` rows/s. Beam's ``VertexAIModelHandlerJSON`` needs
google-cloud-aiplatform and a real endpoint, so Beam's side is a minimal ``RemoteModelHandler``
subclass posting the same Vertex requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.ml.inference.base import RemoteModelHandler, RunInference

import infergraph as ig
from benchmarks.beam_run import count_from, one, prediction_rows
from benchmarks.plan import Job

Run = Callable[[], int]
LATENCY_S = 0.05
PER_REQUEST = 32
CONCURRENCY = 8
PATH = "/v1/projects/p/locations/l/endpoints/e:predict"

_SERVERS: list[Any] = []
_LOCK = threading.Lock()


def server_url() -> str:
    """The URL of this process's endpoint (started on first use; a daemon thread)."""
    with _LOCK:
        if not _SERVERS:
            from tests.handlers.remote_server import PredictionServer

            _SERVERS.append(PredictionServer(latency_s=LATENCY_S).__enter__())
        return str(_SERVERS[0].url)


def handler(url: str, concurrency: int) -> Any:
    """The ``remote`` handler (Vertex protocol) with ``concurrency`` requests in flight."""
    return ig.handler(
        "remote",
        protocol="vertex",
        project="p",
        location="l",
        endpoint_id="e",
        endpoint=url,
        concurrency=concurrency,
        max_instances_per_request=PER_REQUEST,
        max_batch_size=concurrency * PER_REQUEST,
        min_batch_size=concurrency * PER_REQUEST,
    )


def numbers(chunk: int) -> Iterator[tuple[int, float]]:
    """Chunk ``chunk``'s ``(key, number)`` pairs."""
    for i in range(chunk * PER_REQUEST, (chunk + 1) * PER_REQUEST):
        yield (i, float(i))


def beam_remote(job: Job) -> Run:
    own = VertexLike(server_url() + PATH, PER_REQUEST)
    transform = beam.Map(_value) | RunInference(own)
    return lambda: count_from(_chunks(job), numbers, transform, one)


def ig_rows_c1(job: Job) -> Run:
    return _in_process(job, 1)


def ig_rows(job: Job) -> Run:
    return _in_process(job, CONCURRENCY)


def ig_beam_rows(job: Job) -> Run:
    model = handler(server_url(), CONCURRENCY)
    return lambda: count_from(_chunks(job), numbers, ig.RunInference(model), prediction_rows)


PREPARE = {
    "beam": beam_remote,
    "ig-rows-c1": ig_rows_c1,
    "ig-rows": ig_rows,
    "ig-beam-rows": ig_beam_rows,
}


def _chunks(job: Job) -> int:
    if job.rows % PER_REQUEST:
        raise ValueError(f"remote rows must be a multiple of {PER_REQUEST}, got {job.rows}")
    return job.rows // PER_REQUEST


def _value(pair: tuple[int, float]) -> float:
    return pair[1]


def _in_process(job: Job, concurrency: int) -> Run:
    model = handler(server_url(), concurrency)
    chunks = _chunks(job)

    def run() -> int:
        elements = (pair for chunk in range(chunks) for pair in numbers(chunk))
        return sum(prediction_rows(result) for result in ig.predict(model, elements))

    return run


class VertexLike(RemoteModelHandler):  # type: ignore[misc]
    """Beam's remote handler posting Vertex AI ``{"instances": [...]}`` requests."""

    def __init__(self, url: str, batch_size: int) -> None:
        super().__init__(namespace="BeamVertexLike", num_retries=5)
        self.url = url
        self.batch_size = batch_size

    def create_client(self) -> Any:
        import requests

        return requests.Session()

    def request(
        self, batch: Sequence[Any], model: Any, inference_args: Any = None
    ) -> Iterable[Any]:
        response = model.post(self.url, data=json.dumps({"instances": list(batch)}), timeout=60)
        response.raise_for_status()
        return list(response.json()["predictions"])

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": self.batch_size, "max_batch_size": self.batch_size}
