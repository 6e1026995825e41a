"""The ``remote`` handler (protocol ``v2``) against a real MLServer with scikit-learn models.

Needs ``INFERGRAPH_PEERS`` (see servers.py); skipped without it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import infergraph as ig
from infergraph.cli import main
from infergraph.testing import run_on_beam
from tests.peers import servers

FAST = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05}


def handler(url: str, model: str = "regressor", **options: Any) -> Any:
    return ig.handler("remote", protocol="v2", endpoint=url, model=model, **{**FAST, **options})


def linear(row: list[float]) -> list[float]:
    """The regressor's prediction: MLServer answers ``predict`` as ``[n, 1]``, one-value rows."""
    return [2 * row[0] + 3 * row[1] + 1]


ROWS = [(f"k{i}", [float(i), float(-i) / 2]) for i in range(40)]


def test_rows_of_floats_as_fp64(mlserver_url: str) -> None:
    results = list(ig.predict(handler(mlserver_url), ROWS))
    assert [r.key for r in results] == [key for key, _ in ROWS]
    for (_, row), result in zip(ROWS, results, strict=True):
        assert isinstance(result, ig.Prediction), result
        assert result.output == pytest.approx(linear(row))


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_declared_datatypes(mlserver_url: str, datatype: str) -> None:
    h = handler(mlserver_url, datatypes={"input": datatype})
    (result,) = ig.predict(h, [[1.5, 2.25]])
    assert isinstance(result, ig.Prediction), result
    assert result.output == pytest.approx(linear([1.5, 2.25]))


def test_int_inputs(mlserver_url: str) -> None:
    results = list(ig.predict(handler(mlserver_url), [[1, 2], [3, 4]]))
    assert [r.output for r in results] == [pytest.approx([9.0]), pytest.approx([19.0])]  # type: ignore[union-attr]


def test_a_poison_row_fails_alone(mlserver_url: str) -> None:
    # A 1-D row makes scikit-learn raise: MLServer answers HTTP 500 to its request.
    data = [*ROWS[:10], ("poison", 5.0), *ROWS[10:20]]
    for concurrency in (1, 8):
        results = list(ig.predict(handler(mlserver_url, concurrency=concurrency), data))
        assert [r.key for r in results] == [key for key, _ in data]
        failures = [r for r in results if isinstance(r, ig.Failure)]
        assert [(f.key, f.error_type) for f in failures] == [("poison", "RequestRejectedError")]
        assert "HTTP 500 to this instance alone" in failures[0].message


def test_classifier_outputs_given_omitted_and_wrong(mlserver_url: str) -> None:
    data = [[3.0, 1.0], [-2.0, -5.0]]
    labels = [r.output for r in ig.predict(handler(mlserver_url, "classifier"), data)]  # type: ignore[union-attr]
    assert labels == [[1], [0]]
    h = handler(mlserver_url, "classifier", output_names=["predict_proba"])
    probabilities = [r.output for r in ig.predict(h, data)]  # type: ignore[union-attr]
    assert [round(p[1]) for p in probabilities] == [1, 0]
    h = handler(mlserver_url, "classifier", output_names=["predict", "predict_proba"])
    both = [r.output for r in ig.predict(h, data)]  # type: ignore[union-attr]
    assert [b["predict"] for b in both] == [[1], [0]]
    assert [len(b["predict_proba"]) for b in both] == [2, 2]
    wrong = list(ig.predict(handler(mlserver_url, "classifier", output_names=["proba"]), data))
    assert all(isinstance(r, ig.Failure) for r in wrong)
    assert "proba" in wrong[0].message  # type: ignore[union-attr]


def test_concurrent_requests(mlserver_url: str) -> None:
    data = [(f"k{i}", [float(i), 1.0]) for i in range(400)]
    h = handler(mlserver_url, concurrency=8, max_instances_per_request=8)
    results = list(ig.predict(h, data))
    assert [r.output for r in results] == [pytest.approx([2.0 * i + 4.0]) for i in range(400)]  # type: ignore[union-attr]


def test_wrong_model_name_says_what_to_fix(mlserver_url: str) -> None:
    (result,) = ig.predict(handler(mlserver_url, "regresor"), [[1.0, 2.0]])
    assert isinstance(result, ig.Failure)
    assert result.error_type == "RequestRejectedError"
    assert "HTTP 404" in result.message and "regresor" in result.message
    assert "model" in result.message.split("HTTP 404", 1)[1]


@pytest.mark.slow
def test_run_inference_on_beam(mlserver_url: str) -> None:
    data = [*ROWS[:6], ("poison", 5.0)]
    results = run_on_beam(handler(mlserver_url), data)
    assert sorted(r.key for r in results) == sorted(key for key, _ in data)
    outputs = {r.key: r.output for r in results if isinstance(r, ig.Prediction)}
    assert outputs == {key: pytest.approx(linear(row)) for key, row in ROWS[:6]}
    (failure,) = [r for r in results if isinstance(r, ig.Failure)]
    assert failure.key == "poison" and failure.error_type == "RequestRejectedError"


@pytest.mark.slow
def test_cli_predict_jsonl(mlserver_url: str, tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = [json.dumps({"id": key, "x": row}) for key, row in ROWS[:5]]
    source.write_text("\n".join([*lines, '{"id": "poison", "x": 5.0}']) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["predict", "--handler", "remote", "--input", str(source), "--output", str(out)]
    args += ["--key-field", "id", "--no-progress"]
    for option in (
        "protocol=v2", f"endpoint={mlserver_url}", "model=regressor", "backoff_initial_s=0.01",
        "backoff_max_s=0.05",
    ):
        args += ["--set", option]
    assert main(args) == 0
    outputs = {r["id"]: r["output"] for r in map(json.loads, out.read_text().splitlines())}
    assert outputs == {key: pytest.approx(linear(row)) for key, row in ROWS[:5]}
    failures = [json.loads(line) for line in (tmp_path / "out.failures.jsonl").open()]
    assert [(f["id"], f["error_type"]) for f in failures] == [("poison", "RequestRejectedError")]


def test_server_stopped_midway(tmp_path: Path) -> None:
    data = [(f"k{i}", [float(i), 0.0]) for i in range(200)]
    options = {"max_batch_size": 20, "deadline_s": 2.0, "run_deadline_s": 20.0}
    with servers.mlserver(tmp_path) as url:
        results = ig.predict(handler(url, **options), data)
        first = [next(results) for _ in range(20)]
    started = time.monotonic()
    rest = list(results)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, ig.Prediction) for r in first)
    assert [r.key for r in first + rest] == [key for key, _ in data]
    # The second chunk may have run while the server was up (one chunk ahead, core.ahead):
    # every element after it fails.
    assert all(isinstance(r, ig.Failure) for r in rest[20:])
    failed = {r.error_type for r in rest if isinstance(r, ig.Failure)}
    assert failed <= {"EndpointUnavailableError", "CircuitOpenError"}
    assert "CircuitOpenError" in failed
    assert elapsed < 15


def test_server_down_from_the_start() -> None:
    data = [(f"k{i}", [float(i), 0.0]) for i in range(100)]
    h = handler(servers.dead_url(), max_batch_size=10, deadline_s=1.0, run_deadline_s=5.0)
    started = time.monotonic()
    results = list(ig.predict(h, data))
    assert time.monotonic() - started < 10
    assert [r.key for r in results] == [key for key, _ in data]
    assert all(isinstance(r, ig.Failure) for r in results)
    assert "127.0.0.1" in results[0].message  # type: ignore[union-attr]
