"""Blocks through a graph: every node works on whole columns, rows keep their own keys.

A :class:`~.block_state.BlockRecord` holds each node's value as a column aligned with the block's
rows (see :mod:`.block_state`). Routes evaluate their conditions on whole columns, splits hash
the whole key column, model nodes run the rows they get as one block (bisected by rows when a
call fails), and merges pick per row. The semantics are the per-row ones, row by row: a test
holds a block's results equal to its rows' results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..blocks import Block
from ..errors import InputError
from ..execute import BatchRunner, Item
from ..fields import select_input
from ..metrics import MetricsSink
from ..results import Failure, Prediction
from .block_state import (
    BlockRecord,
    Column,
    check_rows,
    column_input,
    pass_through,
    row_of,
    store,
    store_rows,
    take_rows,
)
from .hashing import stable_fractions
from .nodes import FunctionNode, MergeNode, ModelNode, Node, RouteNode, SplitNode, kind
from .state import KEY

if TYPE_CHECKING:
    from .stages import Step

def apply_to_blocks(
    step: Step, records: Sequence[BlockRecord], metrics: MetricsSink, runner: BatchRunner | None
) -> None:
    """Give every row of every block record the step's value, failure or skip."""
    step_node = step.node
    for record in records:
        active, skipped = _gather(step_node, step.gates, step.targets, record)
        if skipped:
            metrics.counter("skipped", skipped)
        rows = np.flatnonzero(active)
        record.ran[step_node.name] = active
        if not len(rows):
            record.valid[step_node.name] = active
            continue
        metrics.counter("elements", len(rows))
        if isinstance(step_node, ModelNode):
            assert runner is not None
            _model(step_node, runner, record, rows, metrics)
        elif isinstance(step_node, FunctionNode):
            _function(step_node, record, rows, metrics)
        elif isinstance(step_node, RouteNode):
            _route(step_node, record, rows, metrics)
        elif isinstance(step_node, SplitNode):
            _split(step_node, record, rows, metrics)
        else:
            _merge(step_node, record, rows)


def _gather(
    node: Node, gates: Sequence[str], targets_of: Mapping[str, Sequence[str]], record: BlockRecord
) -> tuple[np.ndarray[Any, Any], int]:
    """The rows the node runs on; rows failed upstream get their failure; the rest skip."""
    rows = record.rows
    undecided = np.ones(rows, dtype=bool)
    for gate in gates:
        here = targets_of[gate].index(node.name)
        elsewhere = record.routes.get(gate, np.full(rows, -1)) != here
        undecided &= ~(elsewhere & ~_failed_mask(record, gate))
    failed: dict[int, Failure] = {}
    if isinstance(node, MergeNode):
        has = np.zeros(rows, dtype=bool)
        for name in node.inputs:
            has |= record.valid.get(name, np.zeros(rows, dtype=bool))
        for name in node.inputs:
            for row, failure in record.failures.get(name, {}).items():
                if undecided[row] and not has[row]:
                    failed.setdefault(row, failure)
        active = undecided & has
    else:
        active = undecided.copy()
        for name in node.inputs:
            if name == KEY:
                continue
            missing = active & ~record.valid.get(name, np.zeros(rows, dtype=bool))
            upstream = record.failures.get(name, {})
            for index in np.flatnonzero(missing & _failed_mask(record, name)).tolist():
                failed[index] = upstream[index]
            active &= ~missing
    if failed:
        record.failures.setdefault(node.name, {}).update(failed)
    return active, rows - int(active.sum()) - len(failed)


def _failed_mask(record: BlockRecord, name: str) -> np.ndarray[Any, Any]:
    mask = np.zeros(record.rows, dtype=bool)
    failures = record.failures.get(name)
    if failures:
        mask[list(failures)] = True
    return mask


# -- the node kinds ------------------------------------------------------------------------------


def _model(
    node: ModelNode,
    runner: BatchRunner,
    record: BlockRecord,
    rows: np.ndarray[Any, Any],
    metrics: MetricsSink,
) -> None:
    (source,) = node.inputs
    column = take_rows(record.values[source], rows)
    keys = None if record.block.keys is None else record.block.keys[rows]
    handler = runner.handler
    try:
        column = select_input(
            column,
            input_field=node.input_field,
            input_names=handler.input_names,
            whole=handler.takes_records,
        )
    except InputError as exc:
        _fail_rows(node, record, rows, metrics, stage="input", exc=exc)
        return
    if not handler.accepts_blocks:
        _model_per_row(node, runner, record, rows, column)
        return
    run = runner.run_block(Block(column, keys))
    good = rows[run.ok]
    if len(good):
        store(record, node.name, good, run.output)
    else:
        record.valid[node.name] = np.zeros(record.rows, dtype=bool)
    failures = record.failures.setdefault(node.name, {})
    sub = Block(column, keys)
    for index, stage, cause in run.failures:
        row = int(rows[index])
        failures[row] = _row_failure(node, record, row, sub.row(index), stage=stage, exc=cause)


def _model_per_row(
    node: ModelNode,
    runner: BatchRunner,
    record: BlockRecord,
    rows: np.ndarray[Any, Any],
    column: Column,
) -> None:
    sub = Block(column)
    items = [Item(record.row_key(int(row)), sub.row(i)) for i, row in enumerate(rows)]
    outputs: list[tuple[int, Any]] = []
    failures = record.failures.setdefault(node.name, {})
    for row, result in zip(rows, runner.process_batch(items), strict=True):
        if isinstance(result, Prediction):
            outputs.append((int(row), result.output))
        else:
            failures[int(row)] = _renamed(result, node.name)
    store_rows(record, node.name, outputs)


def _function(
    node: FunctionNode, record: BlockRecord, rows: np.ndarray[Any, Any], metrics: MetricsSink
) -> None:
    args = [column_input(record, name, rows) for name in node.inputs]
    if node.columnar:
        try:
            column = node.function(*args)
            check_rows(column, len(rows), node)
        except Exception as exc:
            _fail_rows(node, record, rows, metrics, stage="function", exc=exc)
            return
        store(record, node.name, rows, column)
        return
    outputs: list[tuple[int, Any]] = []
    failures = record.failures.setdefault(node.name, {})
    for i, row in enumerate(rows):
        values = [row_of(arg, i) for arg in args]
        try:
            outputs.append((int(row), node.function(*values)))
        except Exception as exc:
            metrics.counter("failures")
            # The example is the row's graph input, as for an element on its own.
            failures[int(row)] = _row_failure(
                node, record, int(row), record.block.row(int(row)), stage="function", exc=exc
            )
    store_rows(record, node.name, outputs)


def _route(
    node: RouteNode, record: BlockRecord, rows: np.ndarray[Any, Any], metrics: MetricsSink
) -> None:
    (source,) = node.inputs
    targets = list(node.targets)
    chosen = np.full(len(rows), -1)
    if node.default is not None:
        chosen[:] = targets.index(node.default)
    undecided = np.ones(len(rows), dtype=bool)

    def lookup(root: str) -> tuple[Any, np.ndarray[Any, Any] | None]:
        if root == KEY:
            keys = record.block.keys
            return (None if keys is None else keys[rows]), None
        if root not in record.values:
            return None, None
        return take_rows(record.values[root], rows), record.valid[root][rows]

    try:
        for condition, target in node.cases:
            held = condition.evaluate_column(lookup, len(rows)) & undecided
            chosen[held] = targets.index(target)
            undecided &= ~held
    except Exception:  # some rows cannot be compared: decide row by row, failing only those
        chosen, rows = _route_rows(node, record, rows, metrics)
    pass_through(record, node.name, source, rows)
    routes = record.routes.setdefault(node.name, np.full(record.rows, -1))
    routes[rows] = chosen
    unrouted = int((chosen == -1).sum())
    if unrouted:
        metrics.counter("unrouted", unrouted)


def _route_rows(
    node: RouteNode, record: BlockRecord, rows: np.ndarray[Any, Any], metrics: MetricsSink
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Route row by row: the targets of the rows that could be routed, and those rows."""
    targets = list(node.targets)
    chosen: list[int] = []
    kept: list[int] = []
    failures = record.failures.setdefault(node.name, {})
    for row in (int(r) for r in rows):

        def lookup(root: str, row: int = row) -> tuple[bool, Any]:
            if root == KEY:
                return True, record.row_key(row)
            if root in record.values and record.valid[root][row]:
                return True, row_of(record.values[root], row)
            return False, None

        try:
            target = next(
                (target for condition, target in node.cases if condition.evaluate(lookup)),
                node.default,
            )
        except Exception as exc:
            metrics.counter("failures")
            failures[row] = _row_failure(
                node, record, row, record.block.row(row), stage="route", exc=exc
            )
            continue
        chosen.append(-1 if target is None else targets.index(target))
        kept.append(row)
    return np.array(chosen, dtype=int), np.array(kept, dtype=int)


def _split(
    node: SplitNode, record: BlockRecord, rows: np.ndarray[Any, Any], metrics: MetricsSink
) -> None:
    (source,) = node.inputs
    keys = record.block.keys
    if keys is None and record.key is None:
        error = InputError(
            f"split {node.name!r} assigns arms by key, and these rows have none; give the block "
            "keys (a key column)"
        )
        _fail_rows(node, record, rows, metrics, stage="split", exc=error)
        return
    row_keys = keys[rows] if keys is not None else [record.key] * len(rows)
    weights = np.array([weight for _, weight in node.arms])
    points = stable_fractions(row_keys, node.salt or node.name) * weights.sum()
    arms = np.minimum(np.searchsorted(np.cumsum(weights), points, side="right"), len(weights) - 1)
    pass_through(record, node.name, source, rows)
    routes = record.routes.setdefault(node.name, np.full(record.rows, -1))
    routes[rows] = arms


def _merge(node: MergeNode, record: BlockRecord, rows: np.ndarray[Any, Any]) -> None:
    outputs: list[tuple[np.ndarray[Any, Any], Column]] = []
    taken = np.zeros(record.rows, dtype=bool)
    wanted = np.zeros(record.rows, dtype=bool)
    wanted[rows] = True
    for name in node.inputs:
        valid = record.valid.get(name)
        if valid is None:
            continue
        pick = np.flatnonzero(valid & wanted & ~taken)
        if len(pick):
            outputs.append((pick, take_rows(record.values[name], pick)))
            taken[pick] = True
    if len(outputs) > 1:
        # The arms' common column, so that no arm's rows are cast to the first arm's dtype.
        common = _common_column([column for _, column in outputs], record.rows)
        if common is not None:
            record.values[node.name] = common
            record.valid[node.name] = np.zeros(record.rows, dtype=bool)
            outputs = [(pick, _fit(column, common)) for pick, column in outputs]
    for pick, column in outputs:
        store(record, node.name, pick, column)


def _common_column(columns: list[Column], rows: int) -> Column | None:
    """An empty column of ``rows`` rows that holds each of ``columns`` as it is: numpy's common
    dtype (float32 and float64: float64; <U1 and <U5: <U5), or objects (each row its own
    value) where the arms' row shapes or kinds do not mix; ``None`` for dict and array arms."""
    if all(isinstance(column, Mapping) for column in columns):
        names = {tuple(column) for column in columns}
        if len(names) != 1:
            return None
        return {
            name: _common_column([column[name] for column in columns], rows)
            for name in names.pop()
        }
    if any(isinstance(column, Mapping) for column in columns):
        return None
    arrays = [np.asarray(column) for column in columns]
    shapes = {array.shape[1:] for array in arrays}
    try:
        dtype = np.result_type(*(array.dtype for array in arrays))
    except TypeError:  # numpy's DTypePromotionError (text and numbers, say)
        dtype = np.dtype(object)
    if len(shapes) == 1 and dtype.kind != "O":
        return np.zeros((rows, *shapes.pop()), dtype=dtype)
    return np.full(rows, None, dtype=object)


def _fit(column: Column, common: Column) -> Column:
    """``column`` as rows of ``common``: an object column takes one value per row."""
    if isinstance(column, Mapping) and isinstance(common, Mapping):
        return {name: _fit(values, common[name]) for name, values in column.items()}
    array = np.asarray(column)
    if np.asarray(common).dtype.kind != "O" or array.ndim == 1:
        return array
    rows = np.empty(len(array), dtype=object)
    for index, row in enumerate(array):
        rows[index] = row
    return rows


# -- helpers -------------------------------------------------------------------------------------


def _fail_rows(
    node: Node,
    record: BlockRecord,
    rows: np.ndarray[Any, Any],
    metrics: MetricsSink,
    *,
    stage: str,
    exc: BaseException,
) -> None:
    failures = record.failures.setdefault(node.name, {})
    block = record.block
    for row in rows:
        metrics.counter("failures")
        failures[int(row)] = _row_failure(
            node, record, int(row), block.row(int(row)), stage=stage, exc=exc
        )
    record.valid[node.name] = np.zeros(record.rows, dtype=bool)


def _row_failure(
    node: Node, record: BlockRecord, row: int, example: Any, *, stage: str, exc: BaseException
) -> Failure:
    key = record.row_key(row)
    where = f"key {key!r}" if key is not None else f"row {row}"
    return Failure(
        example=example,
        key=key,
        stage=stage,
        node=node.name,
        error_type=type(exc).__name__,
        message=f"{stage} failed in {kind(node)} node {node.name!r} for {where}: {exc}",
    )


def _renamed(failure: Failure, node: str) -> Failure:
    return failure if failure.node == node else replace(failure, node=node)


# -- results -------------------------------------------------------------------------------------

