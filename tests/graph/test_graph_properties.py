"""Property tests: mixed good and bad streams through a graph of every node kind lose nothing.

The graph: ``double`` and ``triple`` in parallel (``triple`` refuses 13), a route on ``double``'s
output (big values to ``ten``, small ones nowhere), a split by key, a merge. Streams mix numbers,
text, None, NaN, infinities, huge values, blocks with a key per row, unkeyed elements and
malformed pairs. For every run: one result per input (a block's rows each accounted for), the
input's key on every result, the order kept in this process, a message on every failure, and
on Beam results + failures = inputs with no key twice.
"""

from __future__ import annotations

import base64
import math
import pickle
import random
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import infergraph as ig
from infergraph.graph.block_state import BlockResult
from tests.core.handlers import ScaleHandler


def graph() -> ig.Graph:
    g = ig.Graph("props")
    g.model("double", ScaleHandler(factor=2.0, max_batch_size=4, model_id="double"))
    g.model("triple", ScaleHandler(factor=3.0, reject=13.0, max_batch_size=3, model_id="triple"))
    g.branch("double", "triple")
    g.model("ten", ScaleHandler(factor=10.0, model_id="ten"))
    g.route("big", [(ig.when("double", "gt", 100), "ten")], input="double")
    g.model("a", ScaleHandler(factor=1.0, model_id="a"))
    g.model("b", ScaleHandler(factor=-1.0, model_id="b"))
    g.split("ab", {"a": 1.0, "b": 1.0}, input="triple")
    g.merge("arm", "a", "b")
    g.outputs("double", "triple", "ten", "arm")
    return g


VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.integers(-(10**6), 10**6),
    st.sampled_from([13.0, 13, "13", "text", None, [], [1.0, 2.0], 1e308, {"x": 1.0}]),
)


@st.composite
def elements(draw: Any, index: int) -> Any:
    kind = draw(st.sampled_from(["pair"] * 6 + ["block", "bare", "triple_tuple"]))
    if kind == "block":
        rows = draw(st.integers(1, 6))
        values = draw(
            st.lists(st.sampled_from([1.0, 13.0, 60.0, 7.5]), min_size=rows, max_size=rows)
        )
        keys = np.array([f"k{index}.{row}" for row in range(rows)])
        return (f"k{index}", ig.Block(np.asarray(values), keys=keys))
    value = draw(VALUES)
    if kind == "pair":
        return (f"k{index}", value)
    if kind == "triple_tuple":
        return (f"k{index}", value, "extra")
    return value


@st.composite
def streams(draw: Any) -> list[Any]:
    size = draw(st.integers(0, 20))
    return [draw(elements(i)) for i in range(size)]


def rows_of(result: Any) -> int:
    return result.rows if isinstance(result, BlockResult) else 1


def check(stream: list[Any], results: list[Any]) -> None:
    assert len(results) == len(stream), "one result per input"
    for element, result in zip(stream, results, strict=True):
        paired = isinstance(element, tuple) and len(element) == 2
        expected_key = element[0] if paired else None
        assert result.key == expected_key, (element, result)
        if isinstance(result, BlockResult):
            assert rows_of(result) == element[1].rows
            codes = result.statuses()
            for row in np.flatnonzero(codes == 2).tolist():  # failed rows name their cause
                failure = result.row_failure(row, [s.name for s in graph().validate()])
                assert failure.message and failure.key == element[1].keys[row]
            continue
        for failure in result.failures.values():
            assert failure.message.strip() and failure.stage and failure.error_type
        value = element[1] if paired else None
        good = paired and isinstance(value, int | float) and not isinstance(value, bool)
        if good and math.isfinite(value) and abs(value) < 1e300:
            assert "double" in result.values, (element, result)
            if value != 13:
                assert result.status == "ok" and "triple" in result.values


@settings(max_examples=150, deadline=None, derandomize=True)
@given(streams())
def test_graph_streams_lose_nothing_in_process(stream: list[Any]) -> None:
    check(stream, list(graph().run(stream)))


def test_graph_streams_lose_nothing_on_beam(tmp_path: Path) -> None:
    rng = random.Random(11)
    runs = []
    for _ in range(8):
        size = rng.randint(5, 25)
        stream: list[Any] = []
        for i in range(size):
            choice = rng.random()
            if choice < 0.15:
                rows = rng.randint(1, 5)
                values = [rng.choice([1.0, 13.0, 60.0]) for _ in range(rows)]
                keys = np.array([f"k{i}.{r}" for r in range(rows)])
                stream.append((f"k{i}", ig.Block(np.asarray(values), keys=keys)))
            elif choice < 0.25:
                stream.append(rng.choice([None, "text", [1.0]]))  # unkeyed
            else:
                stream.append((f"k{i}", rng.choice([1.0, 13.0, 60.0, "text", None, math.nan])))
        runs.append(stream)
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        for n, stream in enumerate(runs):
            results, failures = (
                pipeline
                | f"Create{n}" >> beam.Create(stream, reshuffle=False)
                | f"Graph{n}" >> ig.RunGraph(graph()).with_exception_handling()
            )
            for kind, pcoll in (("r", results), ("f", failures)):
                _ = (
                    pcoll
                    | f"Pickle{n}{kind}"
                    >> beam.Map(lambda x: base64.b64encode(pickle.dumps(x)).decode())
                    | f"Write{n}{kind}" >> beam.io.WriteToText(str(tmp_path / f"{n}.{kind}"))
                )
    for n, stream in enumerate(runs):
        found = {}
        for kind in ("r", "f"):
            found[kind] = [
                pickle.loads(base64.b64decode(line))
                for path in sorted(tmp_path.glob(f"{n}.{kind}*"))
                for line in path.read_text().split()
            ]
        rows = sum(rows_of(r) for r in found["r"]) + len(found["f"])
        expected = sum(
            e[1].rows if isinstance(e, tuple) and isinstance(e[1], ig.Block) else 1 for e in stream
        )
        assert rows == expected, f"run {n}: {expected} inputs (rows) gave {rows}"
        keys = [r.key for r in found["r"] if not isinstance(r, BlockResult) and r.key is not None]
        keys += [
            k for r in found["r"] if isinstance(r, BlockResult) for k in r.example.keys.tolist()
        ]
        keys += [f.key for f in found["f"] if f.key is not None]
        assert len(keys) == len(set(keys)), f"run {n}: a key came out twice"
        assert all(f.message.strip() for f in found["f"])


pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
