"""Property tests: the onnx handler on mixed good and bad streams loses nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import infergraph as ig
from infergraph.testing import run_on_beam
from tests import onnx_models
from tests.handlers.streams import (
    Examples,
    Raw,
    assemble,
    check_any_order,
    check_in_process,
    record,
    streams,
)

PROPERTIES = settings(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FLOATS = st.floats(width=32)  # NaN and infinities included: they are numbers
ROW = st.lists(FLOATS, min_size=3, max_size=3)


def good_rows() -> st.SearchStrategy[Any]:
    """A value for the [batch, 3] float input, in the forms users pass."""
    return st.one_of(
        ROW,
        ROW.map(lambda v: np.array(v, np.float32)),
        ROW.map(lambda v: np.array(v, np.float64)),
        st.lists(st.integers(-(2**31), 2**31), min_size=3, max_size=3),
        st.lists(st.booleans(), min_size=3, max_size=3),
    )


def bad_rows(width: int) -> st.SearchStrategy[Any]:
    """Values that cannot feed a [batch, width] float input."""
    return st.one_of(
        st.lists(FLOATS, max_size=6).filter(lambda v: len(v) != width),  # empty, wrong widths
        BAD_VALUES,
        st.text(max_size=4),
        st.binary(max_size=4),
    )


BAD_VALUES = st.sampled_from(
    [
        [None, 1.0, 2.0],
        ["a", "b", "c"],
        [1e300, 0.0, 0.0],  # beyond float32
        [2**70, 0, 0],  # beyond any integer dtype
        np.array([1j, 2, 3]),
        np.ones((3, 3)),
        np.ones(100_000),  # huge
        [[1.0], [2.0, 3.0], 4.0],  # ragged
        None,
        [None],
        ["a"],
        [1e300],
        [float("-inf"), None, 0.0],
    ]
)


def doubled(x: Any) -> dict[str, np.ndarray]:
    value = np.asarray(x).astype(np.float32)
    with np.errstate(over="ignore"):  # 2 * a large float32 is inf, for the model too
        return {"double": value * np.float32(2), "negated": -value}


def two_outputs_examples() -> Examples:
    """Examples for the two_outputs model (x [batch, 3] -> double, negated)."""
    blocks = st.integers(0, 6).flatmap(
        lambda n: st.lists(ROW, min_size=n, max_size=n).map(
            lambda rows: np.array(rows, np.float32).reshape(-1, 3)
        )
    )
    plain = good_rows().map(lambda x: (x, doubled(x)))
    return st.one_of(
        plain,
        plain,
        plain,
        good_rows().map(lambda x: ({"x": x}, doubled(x))),
        good_rows().map(lambda x: ({"only": x}, doubled(x))),
        st.tuples(good_rows(), st.text(max_size=3)).map(
            lambda t: ({"x": t[0], "extra": t[1]}, doubled(t[0]))
        ),
        good_rows().map(lambda x: ({"y": x, "z": x}, None)),  # two fields, neither is "x"
        bad_rows(3).map(lambda x: (x, None)),
        bad_rows(3).map(lambda x: ({"x": x}, None)),
        blocks.map(lambda a: (ig.Block(a), doubled(a))),
        blocks.map(lambda a: (ig.Block(a), doubled(a))),
        blocks.map(lambda a: (ig.Block({"x": a}), doubled(a))),
        blocks.map(lambda a: (ig.Block(np.ones((len(a), 4))), None)),
        st.integers(1, 4).map(lambda n: (ig.Block(np.array([[None, 1, 2]] * n)), None)),
    )


def fixed_examples() -> Examples:
    """Examples for the linear model with a static batch of 2 (x [2, 1] -> 5x)."""
    one = st.lists(FLOATS, min_size=1, max_size=1)

    def five(x: Any) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.asarray(x).astype(np.float32) * np.float32(5)

    blocks = st.integers(1, 5).flatmap(
        lambda n: st.lists(one, min_size=n, max_size=n).map(lambda r: np.array(r, np.float32))
    )
    return st.one_of(
        one.map(lambda x: (x, five(x))),
        one.map(lambda x: (x, five(x))),
        one.map(lambda x: (np.array(x), five(x))),
        bad_rows(1).map(lambda x: (x, None)),
        blocks.map(lambda a: (ig.Block(a), five(a))),
    )


@pytest.fixture(scope="module")
def handlers(onnx_dir: Path) -> dict[str, ig.ModelHandler]:
    return {
        "two_outputs": ig.handler(
            "onnx",
            path=str(onnx_models.two_outputs(onnx_dir / "prop_two_outputs.onnx")),
            max_batch_size=4,
        ),
        "fixed": ig.handler(
            "onnx",
            path=str(onnx_models.linear(onnx_dir / "prop_fixed.onnx", 5.0, batch=2)),
            max_batch_size=4,
        ),
    }


@settings(PROPERTIES, max_examples=200)
@given(stream=streams(two_outputs_examples()))
def test_in_process_streams_lose_nothing(handlers: dict[str, Any], stream: list[Raw]) -> None:
    cases = assemble(stream)
    results = list(ig.predict(handlers["two_outputs"], [c.element for c in cases], keyed=True))
    record("onnx in-process", check_in_process(cases, results))


@settings(PROPERTIES, max_examples=100)
@given(stream=streams(fixed_examples()))
def test_in_process_streams_on_a_fixed_batch_model(
    handlers: dict[str, Any], stream: list[Raw]
) -> None:
    cases = assemble(stream)
    results = list(ig.predict(handlers["fixed"], [c.element for c in cases], keyed=True))
    record("onnx fixed batch in-process", check_in_process(cases, results))


@pytest.mark.slow
@settings(PROPERTIES, max_examples=3)
@given(batch=st.lists(streams(two_outputs_examples(), min_size=8), min_size=4, max_size=6))
def test_beam_streams_lose_nothing(handlers: dict[str, Any], batch: list[list[Raw]]) -> None:
    # Several streams in one pipeline (a pipeline takes seconds to start), keys made unique.
    cases, start = [], 0
    for stream in batch:
        cases += assemble(stream, start)
        start += len(stream)
    results = run_on_beam(handlers["two_outputs"], [c.element for c in cases], keyed=True)
    record("onnx beam", check_any_order(cases, results))
