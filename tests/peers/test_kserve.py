"""The ``remote`` handler against a real KServe Python model server (kserve_model.py).

KServe answers v1 (``/v1/models/NAME:predict``, the ``tf_serving`` protocol here) and the Open
Inference Protocol v2 (``v2``). Needs ``INFERGRAPH_PEERS`` (see servers.py); skipped without it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import infergraph as ig
from infergraph.testing import run_on_beam
from tests.peers import servers

FAST = {"backoff_initial_s": 0.01, "backoff_max_s": 0.05}
PROTOCOLS = ["tf_serving", "v2"]


def handler(url: str, protocol: str, model: str = "linear", **options: Any) -> Any:
    return ig.handler(
        "remote", protocol=protocol, endpoint=url, model=model, **{**FAST, **options}
    )


def linear(row: list[float]) -> float:
    return 2 * row[0] + 3 * row[1] + 1


ROWS = [(f"k{i}", [float(i), float(-i) / 2]) for i in range(40)]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_rows(kserve_url: str, protocol: str) -> None:
    results = list(ig.predict(handler(kserve_url, protocol, concurrency=4), ROWS))
    assert [r.key for r in results] == [key for key, _ in ROWS]
    assert [r.output for r in results] == pytest.approx([linear(x) for _, x in ROWS])  # type: ignore[union-attr]


@pytest.mark.parametrize("datatype", ["FP32", "FP64", "INT64"])
def test_v2_datatypes(kserve_url: str, datatype: str) -> None:
    h = handler(kserve_url, "v2", datatypes={"input": datatype})
    results = list(ig.predict(h, [[1, 2], [3, 4]]))
    assert [r.output for r in results] == pytest.approx([9.0, 19.0])  # type: ignore[union-attr]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_poison_row_fails_alone(kserve_url: str, protocol: str) -> None:
    # A row of three numbers makes the model raise: KServe answers HTTP 500 to its request.
    data = [*ROWS[:10], ("poison", [1.0, 2.0, 3.0]), *ROWS[10:20]]
    for concurrency in (1, 8):
        h = handler(kserve_url, protocol, concurrency=concurrency)
        results = list(ig.predict(h, data))
        assert [r.key for r in results] == [key for key, _ in data]
        failures = [r for r in results if isinstance(r, ig.Failure)]
        assert [(f.key, f.error_type) for f in failures] == [("poison", "RequestRejectedError")]
        assert "HTTP 500" in failures[0].message


def test_v2_output_names(kserve_url: str) -> None:
    data = [[1.0, 2.0]]
    (one,) = ig.predict(handler(kserve_url, "v2", output_names=["double"]), data)
    assert one.output == pytest.approx(18.0)  # type: ignore[union-attr]
    (both,) = ig.predict(handler(kserve_url, "v2", output_names=["predict", "double"]), data)
    assert both.output == pytest.approx({"predict": 9.0, "double": 18.0})  # type: ignore[union-attr]
    wrong = list(ig.predict(handler(kserve_url, "v2", output_names=["nope"]), data * 3))
    assert all(isinstance(r, ig.Failure) for r in wrong)
    assert "HTTP 400" in wrong[0].message and "nope" in wrong[0].message  # type: ignore[union-attr]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_model_name_says_what_to_fix(kserve_url: str, protocol: str) -> None:
    (result,) = ig.predict(handler(kserve_url, protocol, "linaer"), [[1.0, 2.0]])
    assert isinstance(result, ig.Failure)
    assert result.error_type == "RequestRejectedError"
    assert "HTTP 404" in result.message and "linaer" in result.message


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_run_inference_on_beam(kserve_url: str, protocol: str) -> None:
    data = [*ROWS[:6], ("poison", [1.0])]
    results = run_on_beam(handler(kserve_url, protocol), data)
    assert sorted(r.key for r in results) == sorted(key for key, _ in data)
    outputs = {r.key: r.output for r in results if isinstance(r, ig.Prediction)}
    assert outputs == {key: pytest.approx(linear(row)) for key, row in ROWS[:6]}
    (failure,) = [r for r in results if isinstance(r, ig.Failure)]
    assert failure.key == "poison" and failure.error_type == "RequestRejectedError"


def test_server_stopped_midway(tmp_path: Path) -> None:
    data = [(f"k{i}", [float(i), 0.0]) for i in range(200)]
    options = {"max_batch_size": 20, "deadline_s": 2.0, "run_deadline_s": 20.0}
    with servers.kserve(tmp_path) as url:
        results = ig.predict(handler(url, "v2", **options), data)
        first = [next(results) for _ in range(20)]
    started = time.monotonic()
    rest = list(results)
    assert time.monotonic() - started < 15
    assert all(isinstance(r, ig.Prediction) for r in first)
    assert [r.key for r in first + rest] == [key for key, _ in data]
    # The second chunk may have run while the server was up (one chunk ahead, core.ahead):
    # every element after it fails.
    assert all(isinstance(r, ig.Failure) for r in rest[20:])
    assert "CircuitOpenError" in {r.error_type for r in rest if isinstance(r, ig.Failure)}
