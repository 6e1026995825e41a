"""Blocks through a graph: every node works on whole columns, rows keep their own keys.

This is the graph's one engine: elements that come one at a time ride in blocks too (object
columns, see :meth:`~.block_state.BlockRecord.of_rows`). A :class:`~.block_state.BlockRecord`
holds each node's value as a column aligned with the block's rows. Routes evaluate their
conditions on whole columns (values that came as rows: row by row), splits hash the whole key
column, model nodes run the rows they get as one block (bisected by rows when a call fails; a
handler with no block path, or values that came as rows, through its ``batch`` and
``postprocess``), and merges pick per row. Each row gets the result it would get alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.blocks import Block
from ..core.errors import InputError
from ..core.execute import BatchRunner, BlockRun
from ..core.fields import select_input
from ..core.metrics import MetricsSink
from ..core.results import Failure, short_repr
from .block_state import (
    FAILED_ROUTE,
    BlockRecord,
    Column,
    check_rows,
    column_input,
    pass_through,
    row_of,
    stack_rows,
    store,
    store_rows,
    take_rows,
)
from .hashing import stable_fractions
from .nodes import (
    FunctionNode,
    MergeNode,
    ModelNode,
    Node,
    RouteNode,
    SplitNode,
    failure_message,
)
from .state import INPUT, KEY


def apply_to_blocks(
    node: Node,
    gates: Sequence[str],
    targets: Mapping[str, Sequence[str]],
    records: Sequence[BlockRecord],
    *,
    metrics: MetricsSink,
    runner: BatchRunner | None,
) -> None:
    """Give every row of every block record the node's value, failure or skip.

    The node's own failures (not those of rows failed upstream) are counted here, once.
    """
    name = node.name
    for record in records:
        active, skipped = _gather(node, gates, targets, record)
        if skipped:
            metrics.counter("skipped", skipped)
        rows = np.flatnonzero(active)
        record.ran[name] = active
        if not len(rows) and not _empty_block_at_model(node, record):
            record.valid[name] = active
            continue
        metrics.counter("elements", len(rows))
        if isinstance(node, ModelNode):
            assert runner is not None, f"model node {name!r} needs its runner"
            _model(node, runner, record, rows)
        elif isinstance(node, FunctionNode):
            _function(node, record, rows)
        elif isinstance(node, RouteNode):
            _route(node, record, rows, metrics)
        elif isinstance(node, SplitNode):
            _split(node, record, rows)
        else:
            _merge(node, record, rows)
        own = sum(f.node == name for f in record.failures.get(name, {}).values())
        if own:
            metrics.counter("failures", own)


def _empty_block_at_model(node: Node, record: BlockRecord) -> bool:
    """A block of no rows still meets a model (once): its output has the model's shapes."""
    return isinstance(node, ModelNode) and record.rows == 0 and not record.from_rows


def _gather(
    node: Node, gates: Sequence[str], targets_of: Mapping[str, Sequence[str]], record: BlockRecord
) -> tuple[np.ndarray[Any, Any], int]:
    """The rows the node runs on; rows failed upstream get their failure; the rest skip."""
    rows = record.rows
    undecided = record.valid[INPUT].copy()  # a row that could not be read fails everywhere
    failed: dict[int, Failure] = dict(record.failures.get(INPUT, {}))
    for gate in gates:
        here = targets_of[gate].index(node.name)
        elsewhere = record.routes.get(gate, np.full(rows, -1)) != here
        undecided &= ~(elsewhere & ~_failed_mask(record, gate))
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
    node: ModelNode, runner: BatchRunner, record: BlockRecord, rows: np.ndarray[Any, Any]
) -> None:
    (source,) = node.inputs
    column = take_rows(record.values[source], rows)
    if _per_row(column):
        if node.select:
            rows, values = _select_rows(node, runner, record, rows, column)
        else:
            values = list(column)
        dense = _dense(values) if runner.handler.accepts_blocks else None
        # arrays of one shape and dtype: one block, no per-row work
        run = runner.run_rows(values) if dense is None else runner.run_block(Block(dense))
    else:
        try:
            values = _select_column(node, runner, column)
        except InputError as exc:
            _fail_rows(node, record, rows, stage="input", exc=exc)
            return
        if runner.fixed and not len(rows):  # no rows to pad a call with: no value
            return
        run = _run_column(runner, record, rows, values)
    _keep(node, record, rows, values, run)


def _run_column(
    runner: BatchRunner, record: BlockRecord, rows: np.ndarray[Any, Any], values: Column
) -> BlockRun:
    """A block's column through the handler's block path, else row by row through its stages."""
    if runner.handler.accepts_blocks:
        keys = None if record.block.keys is None else record.block.keys[rows]
        return runner.run_block(Block(values, keys))
    return runner.run_rows([row_of(values, i) for i in range(len(rows))])


def _keep(
    node: ModelNode, record: BlockRecord, rows: np.ndarray[Any, Any], values: Any, run: BlockRun
) -> None:
    """Store a model run's outputs at its rows, and a failure for each row that failed."""
    good = rows[run.ok]
    if run.output is None or (not len(good) and record.rows):
        record.valid.setdefault(node.name, np.zeros(record.rows, dtype=bool))
    elif isinstance(run.output, list):
        store_rows(record, node.name, list(zip(good.tolist(), run.output, strict=True)))
    else:
        store(record, node.name, good, run.output)
    failures = record.failures.setdefault(node.name, {})
    for index, stage, cause in run.failures:
        row = int(rows[index])
        example = row_of(values, index)
        failure = _row_failure(node, record, row, example, stage=stage, exc=cause)
        failures[row] = _with_record_hint(failure, node, example)


def _with_record_hint(failure: Failure, node: ModelNode, example: Any) -> Failure:
    """A failure on a record of several fields that went to the handler whole (it declares no
    input names), with what the record held and how to send one field of it."""
    handler = node.handler
    if not isinstance(example, Mapping) or len(example) < 2 or handler.input_names:
        return failure
    if handler.takes_records or node.input_field is not None:
        return failure
    hint = (
        f" (the record went to the model whole: it has the fields {sorted(map(str, example))}; "
        "to send one field, name it with input_field in the spec's input or the node, or "
        "--input-field on the command line; a field that is the key goes in key_field or "
        "--key-field)"
    )
    return replace(failure, message=failure.message + hint)


def _select_column(node: ModelNode, runner: BatchRunner, column: Column) -> Column:
    """The part of a block's column the handler takes (the input rule, on whole columns)."""
    if not node.select:
        return column
    handler = runner.handler
    return select_input(
        column,
        input_field=node.input_field,
        input_names=handler.input_names,
        whole=handler.takes_records,
    )


def _dense(values: list[Any]) -> np.ndarray[Any, Any] | None:
    """Values that came as rows as one array, when they are numeric arrays of one shape and
    dtype (what ``batch`` would stack the same way); else ``None``."""
    if not values or type(values[0]) is not np.ndarray or values[0].dtype.kind not in "biuf":
        return None
    try:
        dense = np.array(values)  # raises unless every value has the first one's shape
    except (ValueError, TypeError):
        return None
    return dense if dense.dtype == values[0].dtype else None


def _per_row(column: Column) -> bool:
    """Whether a column holds values as they came (an object column): run row by row."""
    return isinstance(column, np.ndarray) and column.dtype == object and column.ndim == 1


def _select_rows(
    node: ModelNode,
    runner: BatchRunner,
    record: BlockRecord,
    rows: np.ndarray[Any, Any],
    column: np.ndarray[Any, Any],
) -> tuple[np.ndarray[Any, Any], list[Any]]:
    """The part of each row's value the handler takes (the one input rule, row by row); rows
    whose value lacks it fail at stage ``input``. The rows that go on, and their values."""
    handler = runner.handler
    field, names, whole = node.input_field, handler.input_names, handler.takes_records
    if field is None and not any(issubclass(kind, Mapping) for kind in set(map(type, column))):
        return rows, list(column)
    kept: list[int] = []
    values: list[Any] = []
    failures = record.failures.setdefault(node.name, {})
    for index, value in enumerate(column):
        row = int(rows[index])
        try:
            values.append(select_input(value, input_field=field, input_names=names, whole=whole))
        except InputError as exc:
            failures[row] = _row_failure(node, record, row, value, stage="input", exc=exc)
            continue
        kept.append(index)
    return rows[kept], values


def _function(node: FunctionNode, record: BlockRecord, rows: np.ndarray[Any, Any]) -> None:
    args = [column_input(record, name, rows) for name in node.inputs]
    if node.columnar:
        _columnar(node, record, rows, args)
        return
    outputs: list[tuple[int, Any]] = []
    failures = record.failures.setdefault(node.name, {})
    function = node.function
    for i, row in enumerate(rows.tolist()):
        try:
            outputs.append((row, function(*[row_of(arg, i) for arg in args])))
        except Exception as exc:
            example = record.block.row(row)
            failures[row] = _row_failure(node, record, row, example, stage="function", exc=exc)
    store_rows(record, node.name, outputs)


def _columnar(
    node: FunctionNode, record: BlockRecord, rows: np.ndarray[Any, Any], args: list[Any]
) -> None:
    """A columnar function on whole columns (values that came as rows: stacked first). If it
    fails on several rows, each row is tried alone (as a column of one row), so that only the
    rows it fails on alone fail: each row gets the result it would get alone."""
    try:
        column = node.function(*[stack_rows(arg) for arg in args])
        check_rows(column, len(rows), node)
    except Exception as exc:
        if len(rows) == 1:
            _fail_rows(node, record, rows, stage="function", exc=exc)
            return
    else:
        store(record, node.name, rows, column)
        return
    outputs: list[tuple[int, Any]] = []
    failures = record.failures.setdefault(node.name, {})
    for i, row in enumerate(rows.tolist()):
        try:
            one = node.function(*[stack_rows(_one_row(arg, i)) for arg in args])
            check_rows(one, 1, node)
            outputs.append((row, row_of(one, 0)))
        except Exception as exc:
            example = record.block.row(row)
            failures[row] = _row_failure(node, record, row, example, stage="function", exc=exc)
    store_rows(record, node.name, outputs)


def _one_row(column: Column, index: int) -> Column:
    """Row ``index`` of a column, as a column of one row."""
    if isinstance(column, Mapping):
        return {name: value[index : index + 1] for name, value in column.items()}
    return column[index : index + 1]


def _route(
    node: RouteNode, record: BlockRecord, rows: np.ndarray[Any, Any], metrics: MetricsSink
) -> None:
    (source,) = node.inputs
    routes = record.routes.setdefault(node.name, np.full(record.rows, -1))
    try:
        if record.from_rows:  # values as they came: each row's condition on its own values
            raise _RowByRow
        chosen = _route_columns(node, record, rows)
    except Exception:  # some rows cannot be compared: decide row by row, failing only those
        chosen, kept = _route_rows(node, record, rows)
        routes[rows] = FAILED_ROUTE
        rows = kept
    pass_through(record, node.name, source, rows)
    routes[rows] = chosen
    unrouted = int((chosen == -1).sum())
    if unrouted:
        metrics.counter("unrouted", unrouted)


class _RowByRow(Exception):
    """Route these rows one by one."""


def _route_columns(
    node: RouteNode, record: BlockRecord, rows: np.ndarray[Any, Any]
) -> np.ndarray[Any, Any]:
    """Each row's target index, the conditions evaluated on whole columns (-1: none)."""
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

    for condition, target in node.cases:
        held = condition.evaluate_column(lookup, len(rows)) & undecided
        chosen[held] = targets.index(target)
        undecided &= ~held
    return chosen


def _route_rows(
    node: RouteNode, record: BlockRecord, rows: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Route row by row: the targets of the rows that could be routed, and those rows."""
    targets = list(node.targets)
    chosen: list[int] = []
    kept: list[int] = []
    failures = record.failures.setdefault(node.name, {})
    for row in rows.tolist():

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
            example = record.block.row(row)
            failures[row] = _row_failure(node, record, row, example, stage="route", exc=exc)
            continue
        chosen.append(-1 if target is None else targets.index(target))
        kept.append(row)
    return np.array(chosen, dtype=int), np.array(kept, dtype=int)


def _split(node: SplitNode, record: BlockRecord, rows: np.ndarray[Any, Any]) -> None:
    (source,) = node.inputs
    keys = record.block.keys
    row_keys = keys[rows] if keys is not None else np.full(len(rows), record.key, dtype=object)
    keyless = np.array([key is None for key in row_keys], dtype=bool)
    if keyless.any():
        error = InputError(
            f"split {node.name!r} assigns arms by key, and this element has none; pass "
            "(key, example) pairs, give a block keys (a key column), or name a key field when "
            "reading files"
        )
        _fail_rows(node, record, rows[keyless], stage="split", exc=error)
        rows, row_keys = rows[~keyless], row_keys[~keyless]
        if not len(rows):
            return
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
    node: Node, record: BlockRecord, rows: np.ndarray[Any, Any], *, stage: str, exc: BaseException
) -> None:
    """Fail ``rows`` at ``node`` with one cause (the node's other rows keep what they have)."""
    failures = record.failures.setdefault(node.name, {})
    block = record.block
    for row in rows.tolist():
        failures[row] = _row_failure(node, record, row, block.row(row), stage=stage, exc=exc)
    record.valid.setdefault(node.name, np.zeros(record.rows, dtype=bool))


def _row_failure(
    node: Node, record: BlockRecord, row: int, example: Any, *, stage: str, exc: BaseException
) -> Failure:
    """The one constructor of a node's failure of one row: its key, the value it failed on,
    and a message naming the stage, the node, the element and the cause."""
    key = record.row_key(row)
    return Failure(
        example=example,
        key=key,
        stage=stage,
        node=node.name,
        error_type=type(exc).__name__,
        message=failure_message(node, stage, _where(record, row, key), exc),
    )


def _where(record: BlockRecord, row: int, key: Any) -> str:
    """Which element a failure is of: its key; else its example (an element alone) or its row
    (a row of a block, which holds the block's key if the rows have none of their own)."""
    own_key = record.from_rows or record.block.keys is not None
    if key is not None and own_key:
        return f"key {short_repr(key, 60)}"
    if record.from_rows:
        return f"example {short_repr(record.block.row(row), 60)}"
    if key is not None:
        return f"row {row} of the block with key {short_repr(key, 60)}"
    return f"row {row} of a block"
