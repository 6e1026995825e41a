"""Property-based: mixed good and bad streams through the remote handler, in-process and on Beam.

Against the loopback server (which doubles numbers, upper-cases strings, answers 400 for "bad",
500 for "crash" and 413 above its body limit), for any stream: every input ends as exactly one
prediction or one failure, keys intact (and in order in-process), a message on every failure,
every prediction right for its input, and every good input predicted when nothing in the stream
can open the breaker.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import infergraph as ig
from infergraph.handlers.remote import RemoteHandler
from infergraph.testing import run_on_beam
from tests.handlers.remote_server import PredictionServer

MAX_BODY_BYTES = 4000


@pytest.fixture(scope="module")
def server() -> Iterator[PredictionServer]:
    with PredictionServer(max_body_bytes=MAX_BODY_BYTES) as srv:
        yield srv


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# -- examples and what the server makes of them ------------------------------------------------

words = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8).filter(
    lambda s: s not in ("bad", "crash")
)
numbers = st.one_of(st.integers(-(2**40), 2**40), st.floats(-1e6, 1e6, allow_nan=False))
good = st.one_of(numbers, words, st.lists(st.integers(-1000, 1000), max_size=5))
bad = st.one_of(
    st.just("bad"),                                       # the server answers 400
    st.sampled_from([math.nan, math.inf, -math.inf]),     # not JSON
    st.lists(st.just(math.nan), min_size=1, max_size=2),
    st.builds(lambda n: "x" * n, st.integers(MAX_BODY_BYTES, 2 * MAX_BODY_BYTES)),  # 413
    st.builds(set),                                       # no JSON form
    st.builds(object),
    st.just({"b64": 5}),                                  # a malformed bytes object: 400
)
crash = st.just("crash")                                  # the server answers 500


def expected(example: Any) -> tuple[str, Any]:
    """("ok", the prediction), or ("fails", None)."""
    if isinstance(example, bool):
        return "ok", not example
    if isinstance(example, int | float):
        return ("ok", example * 2) if math.isfinite(example) else ("fails", None)
    if isinstance(example, str):
        small = len(example) < MAX_BODY_BYTES - 100
        return ("ok", example.upper()) if small and example not in ("bad", "crash") else (
            "fails", None
        )
    if isinstance(example, list) and all(isinstance(v, int) for v in example):
        return "ok", [v * 2 for v in example]
    return "fails", None


def keyed(draw: st.DrawFn, examples: list[Any]) -> list[tuple[Any, Any]]:
    """Pairs with keys of many types (ints, strings, tuples, lists, None-tagged), each unique."""
    kinds = [lambda i: i, lambda i: f"k{i}", lambda i: (i, None), lambda i: [i, "list"],
             lambda i: float(i) + 0.5, lambda i: {"i": i}.__repr__()]
    return [(draw(st.sampled_from(kinds))(i), example) for i, example in enumerate(examples)]


@st.composite
def streams(draw: st.DrawFn, max_size: int = 40) -> list[tuple[Any, Any]]:
    with_crash = draw(st.booleans())
    element = st.one_of(good, good, bad, crash) if with_crash else st.one_of(good, good, bad)
    return keyed(draw, draw(st.lists(element, max_size=max_size)))


@st.composite
def options(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "protocol": draw(st.sampled_from(["tf_serving", "vertex", "ai_platform"])),
        "max_instances_per_request": draw(st.integers(1, 8)),
        "concurrency": draw(st.integers(1, 4)),
        "max_batch_size": draw(st.integers(1, 16)),
        "max_attempts": draw(st.integers(1, 3)),
    }


def make(server: PredictionServer, option: dict[str, Any]) -> RemoteHandler:
    fake = FakeTime()
    target = {"project": "p", "location": "l", "endpoint_id": "e", "model": "m"}
    if option["protocol"] == "tf_serving":
        target = {"model": "m"}
    elif option["protocol"] == "ai_platform":
        target = {"project": "p", "model": "m"}
    return RemoteHandler(
        endpoint=server.url, clock=fake.clock, sleep=fake.sleep, random=lambda: 0.5,
        **target, **option,
    )


def check(data: list[tuple[Any, Any]], results: list[Any], *, ordered: bool) -> None:
    if ordered:
        assert [r.key for r in results] == [key for key, _ in data]
    else:
        assert sorted(map(repr, (r.key for r in results))) == sorted(repr(k) for k, _ in data)
    by_key = {repr(key): example for key, example in data}
    crashes = any(isinstance(x, str) and x == "crash" for _, x in data)
    for result in results:
        verdict, output = expected(by_key[repr(result.key)])
        if isinstance(result, ig.Prediction):
            assert verdict == "ok", f"a bad input got a prediction: {result!r}"
            assert result.output == output
        else:
            assert isinstance(result, ig.Failure)
            assert result.message and result.error_type and result.stage in ("input", "run")
            if not crashes:
                assert verdict == "fails", f"a good input failed: {result!r}"


@settings(
    max_examples=200, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=streams(), option=options())
def test_streams_in_process(
    server: PredictionServer, data: list[tuple[Any, Any]], option: dict[str, Any]
) -> None:
    results = list(ig.predict(make(server, option), data))
    check(data, results, ordered=True)


@settings(
    max_examples=100, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(elements=st.lists(st.one_of(good, bad, st.integers()), max_size=20))
def test_keyed_streams_reject_unpaired_elements(
    server: PredictionServer, elements: list[Any]
) -> None:
    data = [(i, x) if i % 3 else x for i, x in enumerate(elements)]
    handler = make(server, {"protocol": "tf_serving", "max_instances_per_request": 4,
                            "concurrency": 2, "max_batch_size": 5, "max_attempts": 2})
    results = list(ig.predict(handler, data, keyed=True))
    assert len(results) == len(data)
    for element, result in zip(data, results, strict=True):
        if isinstance(element, tuple) and len(element) == 2:
            assert result.key == element[0]
        else:
            assert isinstance(result, ig.Failure) and result.stage == "input"
            assert "expected a (key, example) pair because keyed=True" in result.message


# -- v2 ----------------------------------------------------------------------------------------

floats = st.floats(-1e6, 1e6, allow_nan=False, width=64)
v2_values = st.one_of(
    st.lists(floats, min_size=2, max_size=2),               # the common shape
    st.lists(floats, min_size=0, max_size=4),               # other shapes
    st.lists(st.integers(-(2**31), 2**31), min_size=1, max_size=3),
    st.lists(words.filter(bool), min_size=1, max_size=3),
    st.lists(st.sampled_from([math.nan, math.inf, 1.0]), min_size=1, max_size=3),
    st.just([[1.0], [2.0, 3.0]]),                           # ragged
    st.just([1, "a"]),                                      # mixed
    st.just([2**70]),                                       # beyond int64
    st.dictionaries(st.sampled_from(["input", "extra"]), st.lists(floats, min_size=2,
                                                                   max_size=2), max_size=2),
)


def expected_v2(example: Any) -> tuple[str, Any]:
    if isinstance(example, dict):
        if not example:
            return "fails", None
        outputs = {f"{name}_out": [v * 2 for v in value] for name, value in example.items()}
        return "ok", (next(iter(outputs.values())) if len(outputs) == 1 else outputs)
    if all(isinstance(v, str) for v in example) and example:
        return "ok", [v.upper() for v in example]
    if any(isinstance(v, list | str) for v in example):
        return "fails", None
    if any(isinstance(v, int) and abs(v) >= 2**63 for v in example):
        return "fails", None
    if any(isinstance(v, float) and not math.isfinite(v) for v in example):
        return "fails", None
    return "ok", [v * 2 for v in example]


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(examples=st.lists(v2_values, max_size=20), per_request=st.integers(1, 8))
def test_v2_streams_in_process(
    server: PredictionServer, examples: list[Any], per_request: int
) -> None:
    fake = FakeTime()
    handler = RemoteHandler(
        protocol="v2", endpoint=server.url, model="m", max_instances_per_request=per_request,
        clock=fake.clock, sleep=fake.sleep,
    )
    data = list(enumerate(examples))
    results = list(ig.predict(handler, data))
    assert [r.key for r in results] == list(range(len(data)))
    for (_, example), result in zip(data, results, strict=True):
        verdict, output = expected_v2(example)
        if verdict == "ok":
            assert isinstance(result, ig.Prediction), result
            assert result.output == output
        else:
            assert isinstance(result, ig.Failure) and result.error_type == "InputError"


# -- Beam --------------------------------------------------------------------------------------


@pytest.mark.slow
@settings(max_examples=24, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=streams(max_size=25), option=options())
def test_streams_on_beam(
    server: PredictionServer, data: list[tuple[Any, Any]], option: dict[str, Any]
) -> None:
    results = run_on_beam(make(server, option), data)
    check(data, results, ordered=False)
