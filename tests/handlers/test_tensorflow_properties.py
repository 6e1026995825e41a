"""Property tests: the tensorflow handler on mixed good and bad streams loses nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import infergraph as ig
from infergraph.core.tfexample import make_example, parse_example
from infergraph.testing import run_on_beam
from tests.handlers import tf_models
from tests.handlers.streams import (
    Examples,
    Raw,
    assemble,
    check_any_order,
    check_in_process,
    record,
    streams,
)

pytestmark = pytest.mark.slow

PROPERTIES = settings(
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

FLOATS = st.floats(width=32)


def five(x: Any) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.asarray(x, np.float32).reshape(-1, 1)[:, 0:1] * np.float32(5)


def parses(data: bytes) -> np.ndarray | None:
    """The model's expected output for serialized bytes: 5x if they hold one float x, else
    None. Read with infergraph's own protobuf parser, independent of TensorFlow."""
    try:
        x = parse_example(data).get("x")
    except ig.InputError:
        return None
    if isinstance(x, np.ndarray) and x.dtype == np.float32 and x.shape == (1,):
        return five(x)[0]
    return None


def serialized_examples() -> Examples:
    """Examples for the linear_examples signature (serialized tf.train.Example, feature x)."""
    good = st.one_of(
        FLOATS.map(lambda x: make_example({"x": np.float32(x)})),
        st.tuples(FLOATS, st.text(max_size=3)).map(
            lambda t: make_example({"x": np.float32(t[0]), "note": t[1]})  # an extra feature
        ),
    )
    bad = st.one_of(
        st.sampled_from(
            [
                make_example({"y": 1.0}),  # no x
                make_example({"x": [1.0, 2.0]}),  # two values
                make_example({"x": 3}),  # an int64 list
                make_example({"x": "text"}),  # a bytes list
                None,
                "text",
                np.ones(1),
                {"x": None},  # a dict of features becomes a tf.train.Example; None cannot
                {"y": 1.0},
            ]
        ),
        good.map(lambda data: data[:-2]),  # truncated
        st.binary(max_size=12),  # corrupt bytes (the oracle tells if one happens to parse)
    )
    rows = st.lists(good, min_size=1, max_size=5)

    def proto(data: bytes) -> Any:
        return tf_models.example_proto(float(parse_example(data)["x"][0]))

    return st.one_of(
        good.map(lambda data: (data, parses(data))),
        good.map(lambda data: (data, parses(data))),
        good.map(lambda data: (proto(data), parses(data))),
        good.map(lambda data: (bytearray(data), parses(data))),
        FLOATS.map(lambda x: ({"x": np.float32(x)}, five(x)[0])),  # features as a dict
        bad.map(lambda data: (data, parses(data) if isinstance(data, bytes) else None)),
        rows.map(
            lambda r: (ig.Block(np.array(r, dtype=object)), np.stack([parses(d) for d in r]))
        ),
    )


def dict_examples() -> Examples:
    """Examples for the two_inputs signature: a float32 [batch, 2], b int64 [batch, 2]."""
    a = st.lists(FLOATS, min_size=2, max_size=2)
    b = st.lists(st.integers(-(2**20), 2**20), min_size=2, max_size=2)

    def total(x: Any, y: Any) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return np.asarray(x, np.float32) + np.float32(10) * np.asarray(y, np.float32)

    good = st.tuples(a, b)
    bad_a = st.sampled_from([[None, 1.0], ["a", "b"], [1.0], [1e300, 0.0], []])
    bad_b = st.sampled_from([[0.5, 1.0], [float("nan"), 1], [2**70, 1], [1, 2, 3], ["a", "b"]])
    blocks = st.integers(0, 4).flatmap(lambda n: st.lists(good, min_size=n, max_size=n))
    return st.one_of(
        good.map(lambda t: ({"a": t[0], "b": t[1]}, total(*t))),
        good.map(lambda t: ({"b": np.array(t[1], np.int32), "a": np.array(t[0])}, total(*t))),
        good.map(lambda t: ({"a": t[0], "b": t[1], "extra": 1}, total(*t))),
        a.map(lambda x: ({"a": x}, None)),  # b missing
        st.tuples(bad_a, b).map(lambda t: ({"a": t[0], "b": t[1]}, None)),
        st.tuples(a, bad_b).map(lambda t: ({"a": t[0], "b": t[1]}, None)),
        a.map(lambda x: (np.array(x), None)),  # not a dict
        blocks.map(
            lambda rows: (
                ig.Block(
                    {
                        "a": np.array([r[0] for r in rows], np.float32).reshape(-1, 2),
                        "b": np.array([r[1] for r in rows], np.int64).reshape(-1, 2),
                    }
                ),
                total(
                    np.array([r[0] for r in rows], np.float32).reshape(-1, 2),
                    np.array([r[1] for r in rows], np.int64).reshape(-1, 2),
                ),
            )
        ),
    )


@pytest.fixture(scope="module")
def handlers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ig.ModelHandler]:
    models = tf_models.saved_models(tmp_path_factory.mktemp("tf"))
    return {
        "examples": ig.handler("tensorflow", path=str(models["linear_examples"]), max_batch_size=4),
        "dicts": ig.handler("tensorflow", path=str(models["two_inputs"]), max_batch_size=4),
    }


@settings(PROPERTIES, max_examples=100)
@given(stream=streams(serialized_examples()))
def test_serialized_example_streams_lose_nothing(
    handlers: dict[str, Any], stream: list[Raw]
) -> None:
    cases = assemble(stream)
    results = list(ig.predict(handlers["examples"], [c.element for c in cases], keyed=True))
    record("tensorflow serialized in-process", check_in_process(cases, results))


@settings(PROPERTIES, max_examples=100)
@given(stream=streams(dict_examples()))
def test_dict_streams_lose_nothing(handlers: dict[str, Any], stream: list[Raw]) -> None:
    cases = assemble(stream)
    results = list(ig.predict(handlers["dicts"], [c.element for c in cases], keyed=True))
    record("tensorflow dicts in-process", check_in_process(cases, results))


@settings(PROPERTIES, max_examples=2)
@given(
    serialized=st.lists(streams(serialized_examples(), min_size=8), min_size=3, max_size=4),
    dicts=st.lists(streams(dict_examples(), min_size=8), min_size=3, max_size=4),
)
def test_beam_streams_lose_nothing(
    handlers: dict[str, Any], serialized: list[list[Raw]], dicts: list[list[Raw]]
) -> None:
    for name, batch in (("examples", serialized), ("dicts", dicts)):
        cases, start = [], 0
        for stream in batch:
            cases += assemble(stream, start)
            start += len(stream)
        results = run_on_beam(handlers[name], [c.element for c in cases], keyed=True)
        record(f"tensorflow {name} beam", check_any_order(cases, results))
