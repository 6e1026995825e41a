"""The remote handler in a Beam pipeline, against the local server."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

import infergraph as ig
from infergraph.handlers.remote import RemoteHandler
from infergraph.testing import run_on_beam
from tests.handlers.remote_server import Action, PredictionServer, status

pytestmark = pytest.mark.slow


def test_faults_keep_every_key_exactly_once() -> None:
    with PredictionServer(max_body_bytes=300) as srv:
        srv.script(status(503), Action("reset"), status(429, Retry_After="0.01"))
        handler = RemoteHandler(
            protocol="vertex", project="p", location="l", endpoint_id="e", endpoint=srv.url,
            max_instances_per_request=8, concurrency=3, backoff_initial_s=0.001,
        )
        data = [(f"k{i}", "bad" if i == 13 else "v" * 40 + str(i)) for i in range(60)]
        results = run_on_beam(handler, data)
    assert sorted(r.key for r in results) == sorted(key for key, _ in data)
    failures = [r for r in results if isinstance(r, ig.Failure)]
    assert [(f.key, f.error_type) for f in failures] == [("k13", "RequestRejectedError")]
    assert "HTTP 400" in failures[0].message
    outputs = {r.key: r.output for r in results if isinstance(r, ig.Prediction)}
    assert outputs == {key: value.upper() for key, value in data if key != "k13"}
    answers = srv.answers()
    assert {503, "reset", 429, 413, 400} <= set(answers)


def test_run_inference_predictions_on_v2() -> None:
    with PredictionServer() as srv:
        handler = ig.handler("remote", protocol="v2", model="m", endpoint=srv.url)
        with beam.Pipeline(runner="DirectRunner") as pipeline:
            predictions = (
                pipeline
                | beam.Create([("a", [1.0, 2.0]), ("b", [0.5, 0.0])])
                | ig.RunInference(handler)
                | beam.Map(lambda p: (p.key, p.output))
            )
            assert_that(predictions, equal_to([("a", [2.0, 4.0]), ("b", [1.0, 0.0])]))


def test_a_dead_endpoint_fails_every_key_fast() -> None:
    import socket
    import time

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    handler = RemoteHandler(
        protocol="tf_serving", endpoint=url, model="m", deadline_s=1.0, backoff_initial_s=0.05,
        max_batch_size=4,
    )
    data = [(f"k{i}", i) for i in range(40)]
    start = time.monotonic()
    results = run_on_beam(handler, data)
    elapsed = time.monotonic() - start
    assert sorted(r.key for r in results) == sorted(key for key, _ in data)
    assert all(isinstance(r, ig.Failure) and r.message for r in results)
    assert {r.error_type for r in results} <= {"EndpointUnavailableError", "CircuitOpenError"}
    assert "CircuitOpenError" in {r.error_type for r in results}
    # Without the breaker each of the ten batches would wait out its deadline (10 s or more).
    assert elapsed < 3 * 1.0 + 5
