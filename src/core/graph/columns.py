"""Blocks through a graph: every node works on whole columns, rows keep their own keys.

A :class:`BlockRecord` is the columnar twin of :class:`~.state.Record`: each node's value is a
column aligned with the block's rows, beside a mask of the rows that have it, the failures of
the rows that do not (each with its row's key), the target each route or split chose per row,
and the rows each node ran on. Routes evaluate their conditions on whole columns, splits hash
the whole key column, model nodes run the rows they get as one block (bisected by rows when a
call fails), and merges pick per row. The semantics are the per-row ones, row by row: a test
holds a block's results equal to its rows' results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..blocks import Block
from ..errors import InputError
from ..execute import BatchRunner, Item
from ..fields import select_input
from ..metrics import MetricsSink
from ..results import Failure, Prediction
from .hashing import stable_fractions
from .nodes import FunctionNode, MergeNode, ModelNode, Node, RouteNode, SplitNode, kind
from .state import INPUT, KEY, Lineage, Status

if TYPE_CHECKING:
    from .stages import Step

Column = Any
"""A node's value for a block: an array with one row per block row, or a dict of such arrays."""


class BlockRecord:
    """A block on its way through a graph (mutable; the steps fill it in)."""

    __slots__ = ("block", "failures", "key", "ran", "routes", "valid", "values")

    def __init__(self, key: Any, block: Block) -> None:
        self.key = key
        self.block = block
        rows = block.rows
        self.values: dict[str, Column] = {INPUT: block.data}
        self.valid: dict[str, np.ndarray[Any, Any]] = {INPUT: np.ones(rows, dtype=bool)}
        self.failures: dict[str, dict[int, Failure]] = {}
        self.routes: dict[str, np.ndarray[Any, Any]] = {}
        self.ran: dict[str, np.ndarray[Any, Any]] = {}

    @property
    def rows(self) -> int:
        """The block's rows."""
        return self.block.rows

    def row_key(self, row: int) -> Any:
        """The key of ``row``: its own, else the block's."""
        if self.block.keys is None:
            return self.key
        key = self.block.keys[row]
        return key.item() if isinstance(key, np.generic) else key

    def __getstate__(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        for name, value in zip(self.__slots__, state, strict=True):
            setattr(self, name, value)


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
    column = _take(record.values[source], rows)
    keys = None if record.block.keys is None else record.block.keys[rows]
    handler = runner.handler
    try:
        column = select_input(column, input_field=node.input_field, input_names=handler.input_names)
    except InputError as exc:
        _fail_rows(node, record, rows, metrics, stage="input", exc=exc)
        return
    if not handler.accepts_blocks:
        _model_per_row(node, runner, record, rows, column)
        return
    run = runner.run_block(Block(column, keys))
    good = rows[run.ok]
    if len(good):
        _store(record, node.name, good, run.output)
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
    _store_rows(record, node.name, outputs)


def _function(
    node: FunctionNode, record: BlockRecord, rows: np.ndarray[Any, Any], metrics: MetricsSink
) -> None:
    args = [_input(record, name, rows) for name in node.inputs]
    if node.columnar:
        try:
            column = node.function(*args)
            _check_rows(column, len(rows), node)
        except Exception as exc:
            _fail_rows(node, record, rows, metrics, stage="function", exc=exc)
            return
        _store(record, node.name, rows, column)
        return
    outputs: list[tuple[int, Any]] = []
    failures = record.failures.setdefault(node.name, {})
    for i, row in enumerate(rows):
        values = [row_of(arg, i) for arg in args]
        try:
            outputs.append((int(row), node.function(*values)))
        except Exception as exc:
            metrics.counter("failures")
            failures[int(row)] = _row_failure(
                node, record, int(row), values, stage="function", exc=exc
            )
    _store_rows(record, node.name, outputs)


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
        return _take(record.values[root], rows), record.valid[root][rows]

    try:
        for condition, target in node.cases:
            held = condition.evaluate_column(lookup, len(rows)) & undecided
            chosen[held] = targets.index(target)
            undecided &= ~held
    except Exception:  # some rows cannot be compared: decide row by row, failing only those
        chosen, rows = _route_rows(node, record, rows, metrics)
    _pass_through(record, node.name, source, rows)
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
    _pass_through(record, node.name, source, rows)
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
            outputs.append((pick, _take(record.values[name], pick)))
            taken[pick] = True
    for pick, column in outputs:
        _store(record, node.name, pick, column)


# -- helpers -------------------------------------------------------------------------------------


def _input(record: BlockRecord, name: str, rows: np.ndarray[Any, Any]) -> Any:
    if name == KEY:
        keys = record.block.keys
        return keys[rows] if keys is not None else np.array([record.key] * len(rows), dtype=object)
    return _take(record.values[name], rows)


def _take(column: Column, rows: np.ndarray[Any, Any]) -> Column:
    """The rows at ``rows`` (sorted indexes) of a column; the column itself when they are all
    of its rows (no copy)."""
    if isinstance(column, Mapping):
        return {name: _take(value, rows) for name, value in column.items()}
    array = np.asarray(column)
    return array if len(rows) == len(array) else array[rows]


def row_of(column: Column, index: int) -> Any:
    """Row ``index`` of a column (of each array of a dict column)."""
    if isinstance(column, Mapping):
        return {name: value[index] for name, value in column.items()}
    return column[index]


def _check_rows(column: Column, rows: int, node: Node) -> None:
    arrays = list(column.values()) if isinstance(column, Mapping) else [column]
    for array in arrays:
        if np.ndim(array) == 0 or len(array) != rows:
            raise InputError(
                f"columnar function {node.name!r} returned {np.shape(array)} for {rows} rows; "
                "it must return one row per input row"
            )


def _store(record: BlockRecord, name: str, rows: np.ndarray[Any, Any], column: Column) -> None:
    """Put ``column`` (one row per index in ``rows``) into the node's aligned column."""
    valid = record.valid.get(name)
    if valid is None or name not in record.values:
        if len(rows) == record.rows:  # every row (rows are sorted indexes): keep it as it is
            record.values[name] = column
            record.valid[name] = np.ones(record.rows, dtype=bool)
            return
        record.values[name] = _allocate(column, record.rows)
        valid = record.valid[name] = np.zeros(record.rows, dtype=bool)
    target = record.values[name]
    if isinstance(target, Mapping):
        for field, values in column.items():
            target[field][rows] = values
    else:
        target[rows] = column
    valid[rows] = True


def _store_rows(record: BlockRecord, name: str, outputs: list[tuple[int, Any]]) -> None:
    if not outputs:
        record.valid[name] = np.zeros(record.rows, dtype=bool)
        return
    rows = np.array([row for row, _ in outputs])
    values = [value for _, value in outputs]
    try:
        column: Any = np.stack([np.asarray(v) for v in values])
        if column.dtype.kind in "US":
            raise ValueError
    except ValueError:
        column = np.empty(len(values), dtype=object)
        column[:] = values
    _store(record, name, rows, column)


def _allocate(column: Column, rows: int) -> Column:
    if isinstance(column, Mapping):
        return {name: _allocate(value, rows) for name, value in column.items()}
    array = np.asarray(column)
    if array.dtype == object:
        return np.full(rows, None, dtype=object)
    return np.zeros((rows, *array.shape[1:]), dtype=array.dtype)


def _pass_through(record: BlockRecord, name: str, source: str, rows: np.ndarray[Any, Any]) -> None:
    record.values[name] = record.values[source]
    valid = np.zeros(record.rows, dtype=bool)
    valid[rows] = True
    record.valid[name] = valid


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

_STATUS_CODES = {"ok": 0, "partial": 1, "failed": 2, "skipped": 3}
STATUSES: tuple[Status, ...] = ("ok", "partial", "failed", "skipped")
"""Row statuses by their code in :meth:`BlockResult.statuses`."""


@dataclass(slots=True, eq=False)
class BlockResult:
    """What a graph made of a block: per output node, a column and per-row statuses.

    Attributes:
        key: The block element's own key (``None`` unless it came as a ``(key, block)`` pair).
        example: The input block (with its row keys).
        values: Output node -> its column, one row per block row (rows without a value hold
            zeros or ``None``); ``valid[node]`` says which rows have one.
        valid: Output node -> mask of rows with a value.
        failures: Output node -> {row: the failure that stopped it}.
        ran: Node -> mask of rows it ran on (the rows' lineage).
        routes: Route or split -> per row, the index of its target (-1: none); see ``targets``.
        targets: Route or split -> its targets, in index order.
    """

    key: Any
    example: Block
    values: dict[str, Column]
    valid: dict[str, np.ndarray[Any, Any]]
    failures: dict[str, dict[int, Failure]]
    ran: dict[str, np.ndarray[Any, Any]]
    routes: dict[str, np.ndarray[Any, Any]]
    targets: dict[str, tuple[str, ...]]

    @property
    def rows(self) -> int:
        """The block's rows."""
        return self.example.rows

    def statuses(self) -> np.ndarray[Any, Any]:
        """Each row's status as a code: 0 ok, 1 partial, 2 failed, 3 skipped."""
        has = np.zeros(self.rows, dtype=bool)
        failed = np.zeros(self.rows, dtype=bool)
        for valid in self.valid.values():
            has |= valid
        for failures in self.failures.values():
            failed[list(failures)] = True
        codes = np.full(self.rows, _STATUS_CODES["skipped"])
        codes[failed] = _STATUS_CODES["failed"]
        codes[has] = _STATUS_CODES["ok"]
        codes[has & failed] = _STATUS_CODES["partial"]
        return codes

    def status_of(self, row: int) -> Status:
        """The status of one row."""
        return STATUSES[int(self.statuses()[row])]

    def lineage(self, row: int, order: Sequence[str]) -> Lineage:
        """The lineage of one row (nodes in ``order`` that ran on it, routes it took)."""
        nodes = tuple(name for name in order if name in self.ran and self.ran[name][row])
        routes = {
            name: (self.targets[name][index] if index >= 0 else None)
            for name, choices in self.routes.items()
            if self.ran.get(name) is not None and self.ran[name][row]
            for index in [int(choices[row])]
        }
        return Lineage(nodes, routes)

    def row_key(self, row: int) -> Any:
        """The key of one row."""
        keys = self.example.keys
        if keys is None:
            return self.key
        key = keys[row]
        return key.item() if isinstance(key, np.generic) else key

    def status_counts(self) -> dict[Status, int]:
        """Rows by status."""
        codes = np.bincount(self.statuses(), minlength=4)
        return {status: int(codes[i]) for i, status in enumerate(STATUSES) if codes[i]}

    def take(self, rows: np.ndarray[Any, Any]) -> BlockResult:
        """The result of the rows at ``rows`` (indexes, in order) only."""
        index = {int(old): new for new, old in enumerate(rows)}
        return BlockResult(
            self.key,
            self.example.take(rows),
            {name: _take(column, rows) for name, column in self.values.items()},
            {name: valid[rows] for name, valid in self.valid.items()},
            {
                name: {index[row]: f for row, f in failures.items() if row in index}
                for name, failures in self.failures.items()
            },
            {name: ran[rows] for name, ran in self.ran.items()},
            {name: choices[rows] for name, choices in self.routes.items()},
            self.targets,
        )

    def split(self, order: Sequence[str]) -> tuple[BlockResult | None, list[Failure]]:
        """The rows that are not ``failed`` (``None`` if none), and one failure per failed row:
        the first failure along its path, with its input row as the example."""
        codes = self.statuses()
        failed = np.flatnonzero(codes == _STATUS_CODES["failed"])
        failures = [self.row_failure(int(row), order) for row in failed]
        if not len(failed):
            return self, []
        kept = np.flatnonzero(codes != _STATUS_CODES["failed"])
        return (self.take(kept) if len(kept) else None), failures

    def row_failure(self, row: int, order: Sequence[str]) -> Failure:
        """One failure record for a failed row (see :meth:`split`)."""
        position = {name: i for i, name in enumerate(order)}
        found = [f[row] for f in self.failures.values() if row in f]
        found.sort(key=lambda f: position.get(f.node, -1))
        root = found[0]
        others = sorted({f"{f.node} ({f.stage})" for f in found if f is not root})
        extra = f" [other outputs failed: {'; '.join(others)}]" if others else ""
        return replace(
            root, example=self.example.row(row), key=self.row_key(row), message=root.message + extra
        )
