"""Blocks through every topology: each row's result is the result of the row on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import infergraph as ig
from infergraph.graph.block_state import BlockResult
from infergraph.testing import outputs_equal
from tests import graph_topologies as topologies
from tests.core.handlers import ScaleHandler


def as_block(case: topologies.Case) -> tuple[ig.Block, list[Any]]:
    """The case's keyed numeric elements as one block with a key per row."""
    rows = [
        (key, value)
        for element in case.data
        if isinstance(element, tuple)
        for key, value in [element]
        if isinstance(value, list)
    ]
    keys = np.array([key for key, _ in rows])
    data = np.array([value for _, value in rows], dtype=np.float32)
    return ig.Block(data, keys=keys), rows


def check_row(block: BlockResult, row: int, alone: ig.GraphResult, order: tuple[str, ...]) -> None:
    key = alone.key
    assert block.row_key(row) == key
    assert block.status_of(row) == alone.status, key
    for name, value in alone.values.items():
        assert block.valid[name][row], (key, name)
        assert outputs_equal(np.asarray(block.values[name][row]), np.asarray(value)), (key, name)
    for name, failure in alone.failures.items():
        got = block.failures[name][row]
        assert (got.node, got.stage, got.error_type, got.key, got.message) == (
            failure.node,
            failure.stage,
            failure.error_type,
            failure.key,
            failure.message,
        ), (key, name)
        assert outputs_equal(np.asarray(got.example), np.asarray(failure.example)), (key, name)
    for name in alone.skipped:
        assert not block.valid[name][row] and row not in block.failures[name], (key, name)
    assert block.lineage(row, order) == alone.lineage, key


@pytest.mark.parametrize("make", topologies.ALL, ids=lambda make: make.__name__)
def test_every_topology_on_a_block_matches_its_rows(
    make: Any, five_onnx: Path, ten_onnx: Path
) -> None:
    case = make(five_onnx, ten_onnx)
    block, rows = as_block(case)
    row_stats, block_stats = ig.GraphStats(), ig.GraphStats()
    elements = [(k, np.asarray(v, np.float32)) for k, v in rows]
    alone = {r.key: r for r in case.graph.run(elements, metrics=row_stats)}
    (result,) = case.graph.run([block], metrics=block_stats)
    assert isinstance(result, BlockResult)
    order = tuple(step.name for step in case.graph.validate())
    for row, (key, _) in enumerate(rows):
        check_row(result, row, alone[key], order)
    assert counted(row_stats) == counted(block_stats)
    assert row_stats.results == block_stats.results


def counted(stats: ig.GraphStats) -> dict[str, dict[str, int]]:
    """Each node's counters of what happened to elements (not how many calls it took)."""
    kept = ("elements", "failures", "skipped", "inferences", "unrouted")
    return {
        node: {name: value for name, value in sink.counters.items() if name in kept}
        for node, sink in stats.nodes.items()
    }


def test_columnar_functions_run_once_per_block(five_onnx: Path) -> None:
    calls = []

    def scale(column: np.ndarray) -> np.ndarray:
        calls.append(len(column))
        return column * 2

    g = ig.Graph()
    g.model("five", "onnx", path=str(five_onnx))
    g.function("double", scale, columnar=True)
    g.chain("five", "double")
    block = ig.Block(np.arange(10, dtype=np.float32).reshape(-1, 1), keys=np.arange(10))
    (result,) = g.run([block])
    np.testing.assert_array_equal(result.values["double"][:, 0], np.arange(10) * 10.0)
    assert calls == [10]
    (one,) = g.run([(0, np.array([3.0], np.float32))])  # on one element: a column of one row
    assert float(one["double"][0]) == 30.0 and calls == [10, 1]


def test_a_bad_row_fails_alone_and_the_block_keeps_the_rest(five_onnx: Path) -> None:
    g = ig.Graph()
    g.model("double", ScaleHandler(reject=13.0))
    g.chain("double")
    values = np.array([1.0, 13.0, 3.0])
    (result,) = g.run([ig.Block(values, keys=np.array(["a", "b", "c"]))])
    assert result.status_counts() == {"ok": 2, "failed": 1}
    kept, failures = result.split(("double",))
    assert kept is not None and kept.example.keys.tolist() == ["a", "c"]
    np.testing.assert_array_equal(kept.values["double"], [2.0, 6.0])
    (failure,) = failures
    assert (failure.key, failure.example, failure.node) == ("b", 13.0, "double")


@pytest.mark.parametrize(
    ("narrow", "wide", "wide_value"),
    [
        (np.float32, np.float64, 9.1),  # the first arm's dtype would round 9.1
        (np.int8, np.int64, 1000),  # ... or wrap 1000
        (np.dtype("<U1"), np.dtype("<U5"), "wider"),  # ... or cut text
    ],
)
def test_a_merge_of_arms_of_different_dtypes_loses_nothing_in_a_block(
    narrow: Any, wide: Any, wide_value: Any
) -> None:
    def small(column: np.ndarray) -> np.ndarray:
        return np.full(len(column), 1, dtype=narrow)

    def large(column: np.ndarray) -> np.ndarray:
        return np.full(len(column), wide_value, dtype=wide)

    g = ig.Graph()
    g.function("small", small, columnar=True)
    g.function("large", large, columnar=True)
    g.route(
        "by_size", [(ig.when("input", "lt", 10), "small")], default="large", input="input"
    )
    g.merge("either", "small", "large")
    (result,) = g.run([ig.Block(np.array([1.0, 50.0]), keys=np.array(["a", "b"]))])
    (one, alone) = g.run([("a", np.array(1.0)), ("b", np.array(50.0))])
    assert result.values["either"][1] == alone["either"] == wide_value
    assert result.values["either"][0] == one["either"]


def test_a_merge_of_arms_of_different_shapes_or_kinds_keeps_each_row() -> None:
    g = ig.Graph()
    g.function("pair", lambda column: np.ones((len(column), 2)), columnar=True)
    g.function("name", lambda column: np.full(len(column), "text"), columnar=True)
    g.function("one", lambda column: np.zeros((len(column), 1), np.float32), columnar=True)
    g.route(
        "by_size",
        [(ig.when("input", "lt", 10), "pair"), (ig.when("input", "lt", 20), "name")],
        default="one",
        input="input",
    )
    g.merge("either", "pair", "name", "one")
    (result,) = g.run([ig.Block(np.array([1.0, 15.0, 50.0]), keys=np.array(["a", "b", "c"]))])
    alone = list(g.run([(key, np.array(v)) for key, v in [("a", 1.0), ("b", 15.0), ("c", 50.0)]]))
    for row, single in enumerate(alone):
        assert outputs_equal(np.asarray(result.values["either"][row]), np.asarray(single["either"]))


@pytest.mark.parametrize("columnar", [False, True])
def test_a_function_failure_holds_the_graph_input_in_a_block_as_alone(columnar: bool) -> None:
    def refuse(value: Any) -> Any:
        raise ValueError("refused")

    g = ig.Graph()
    g.model("double", ScaleHandler())
    g.function("check", refuse, columnar=columnar)
    g.chain("double", "check")
    (alone,) = g.run([("a", 3.0)])
    (block,) = g.run([ig.Block(np.array([3.0]), keys=np.array(["a"]))])
    got, expected = block.failures["check"][0], alone.failures["check"]
    assert (got.example, got.stage) == (expected.example, expected.stage) == (3.0, "function")
