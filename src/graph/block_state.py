"""What a block is on its way through a graph, and what comes out: columns and row masks.

A :class:`BlockRecord` is the columnar twin of :class:`~.state.Record`: each node's value is a
column aligned with the block's rows (an array with one row per block row, or a dict of such
arrays), beside a mask of the rows that have it, the failures of the rows that do not (each with
its row's key), the target each route or split chose per row, and the rows each node ran on. A
:class:`BlockResult` is what a block record becomes at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.blocks import Block
from ..core.errors import InputError
from ..core.results import Failure
from .nodes import Node
from .state import INPUT, KEY, GraphResult, Lineage, Status, first_failure

Column = Any
"""A node's value for a block: an array with one row per block row, or a dict of such arrays."""


class BlockRecord:
    """A block on its way through a graph (mutable; the steps fill it in).

    ``from_rows``: the block was gathered from elements that came one at a time (see
    :meth:`of_rows`): its columns hold each row's values as they are (object columns), and it
    ends as one :class:`~.state.GraphResult` per row, a view of its block result.
    """

    __slots__ = ("block", "failures", "from_rows", "key", "ran", "routes", "valid", "values")

    def __init__(self, key: Any, block: Block, *, from_rows: bool = False) -> None:
        self.key = key
        self.block = block
        self.from_rows = from_rows
        rows = block.rows
        self.values: dict[str, Column] = {INPUT: block.data}
        self.valid: dict[str, np.ndarray[Any, Any]] = {INPUT: np.ones(rows, dtype=bool)}
        self.failures: dict[str, dict[int, Failure]] = {}
        self.routes: dict[str, np.ndarray[Any, Any]] = {}
        self.ran: dict[str, np.ndarray[Any, Any]] = {}

    @classmethod
    def of_rows(cls, keys: Sequence[Any], examples: Sequence[Any]) -> BlockRecord:
        """Elements that came one at a time, as one block: each example as it is (an object
        column), each key its row's key. An example that is a :class:`Failure` (an element
        that could not be read) is a row failed at the input: it fails at every node."""
        record = cls(None, Block(objects(examples), objects(keys)), from_rows=True)
        if Failure not in set(map(type, examples)):
            return record
        failed = {i: e for i, e in enumerate(examples) if type(e) is Failure}
        if failed:
            record.valid[INPUT][list(failed)] = False
            record.failures[INPUT] = failed
        return record

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


def objects(values: Sequence[Any]) -> np.ndarray[Any, Any]:
    """``values`` as a 1-d object array, each value as it is (lists and tuples included)."""
    return np.fromiter(values, dtype=object, count=len(values))


def stack_rows(column: Column) -> Column:
    """A column of values as they came (an object column) as arrays, for columnar functions:
    dicts as a dict of arrays, other values as one array; any other column as it is."""
    if not (isinstance(column, np.ndarray) and column.dtype == object and column.ndim == 1):
        return column
    values = list(column)
    if values and all(isinstance(value, Mapping) for value in values):
        return {name: np.asarray([value[name] for value in values]) for name in values[0]}
    return np.asarray(values)


def column_input(record: BlockRecord, name: str, rows: np.ndarray[Any, Any]) -> Any:
    if name == KEY:
        keys = record.block.keys
        return keys[rows] if keys is not None else np.array([record.key] * len(rows), dtype=object)
    return take_rows(record.values[name], rows)


def take_rows(column: Column, rows: np.ndarray[Any, Any]) -> Column:
    """The rows at ``rows`` (sorted indexes) of a column; the column itself when they are all
    of its rows (no copy)."""
    if isinstance(column, Mapping):
        return {name: take_rows(value, rows) for name, value in column.items()}
    array = np.asarray(column)
    return array if len(rows) == len(array) else array[rows]


def _row_list(column: Column, rows: int) -> list[Any]:
    """A column as a list of its rows (each as :func:`row_of` gives it)."""
    if isinstance(column, np.ndarray):
        return list(column)
    return [row_of(column, index) for index in range(rows)]


def row_of(column: Column, index: int) -> Any:
    """Row ``index`` of a column (of each array of a dict column)."""
    if isinstance(column, Mapping):
        return {name: value[index] for name, value in column.items()}
    return column[index]


def check_rows(column: Column, rows: int, node: Node) -> None:
    arrays = list(column.values()) if isinstance(column, Mapping) else [column]
    for array in arrays:
        if np.ndim(array) == 0 or len(array) != rows:
            raise InputError(
                f"columnar function {node.name!r} returned {np.shape(array)} for {rows} rows; "
                "it must return one row per input row"
            )


def store(record: BlockRecord, name: str, rows: np.ndarray[Any, Any], column: Column) -> None:
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
            _assign(target[field], rows, values)
    else:
        record.values[name] = _assign(target, rows, column)
    valid[rows] = True


def _assign(target: np.ndarray[Any, Any], rows: np.ndarray[Any, Any], column: Any) -> Any:
    """Write ``column`` at ``rows`` of ``target`` (an object target takes each row as it is)."""
    if target.dtype == object and not (isinstance(column, np.ndarray) and column.ndim == 1):
        for index, row in enumerate(rows.tolist()):
            target[row] = row_of(column, index)
        return target
    target[rows] = column
    return target


def store_rows(record: BlockRecord, name: str, outputs: list[tuple[int, Any]]) -> None:
    """Put per-row values into the node's column: stacked into an array where they stack (a
    block's), each value as it is where the block came as rows (a row's result is its value)."""
    if not outputs:
        record.valid[name] = np.zeros(record.rows, dtype=bool)
        return
    rows = np.array([row for row, _ in outputs])
    values = [value for _, value in outputs]
    column: Any = objects(values) if record.from_rows else _stacked(values)
    store(record, name, rows, column)


def _stacked(values: list[Any]) -> Any:
    try:
        column = np.stack([np.asarray(v) for v in values])
        if column.dtype.kind not in "US":
            return column
    except ValueError:
        pass
    return objects(values)


def _allocate(column: Column, rows: int) -> Column:
    if isinstance(column, Mapping):
        return {name: _allocate(value, rows) for name, value in column.items()}
    array = np.asarray(column)
    if array.dtype == object:
        return np.full(rows, None, dtype=object)
    return np.zeros((rows, *array.shape[1:]), dtype=array.dtype)


def pass_through(record: BlockRecord, name: str, source: str, rows: np.ndarray[Any, Any]) -> None:
    record.values[name] = record.values[source]
    valid = np.zeros(record.rows, dtype=bool)
    valid[rows] = True
    record.valid[name] = valid


FAILED_ROUTE = -2
"""A route's or split's target index for a row it failed on (-1: no target)."""

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
        from_rows: The rows are elements that came one at a time (see
            :meth:`BlockRecord.of_rows`): each gets its own result (:meth:`row_result`).
        versions: Model node -> the version of the model that ran on the block (runs that
            take model updates); each row's lineage names those of the nodes it went through.
    """

    key: Any
    example: Block
    values: dict[str, Column]
    valid: dict[str, np.ndarray[Any, Any]]
    failures: dict[str, dict[int, Failure]]
    ran: dict[str, np.ndarray[Any, Any]]
    routes: dict[str, np.ndarray[Any, Any]]
    targets: dict[str, tuple[str, ...]]
    from_rows: bool = False
    versions: dict[str, str] = field(default_factory=dict)

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
            if index != FAILED_ROUTE
        }
        return Lineage(nodes, routes, self._models(nodes))

    def _models(self, nodes: Sequence[str]) -> dict[str, str]:
        versions = self.versions
        return {node: versions[node] for node in nodes if node in versions} if versions else {}

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
            {name: take_rows(column, rows) for name, column in self.values.items()},
            {name: valid[rows] for name, valid in self.valid.items()},
            {
                name: {index[row]: f for row, f in failures.items() if row in index}
                for name, failures in self.failures.items()
            },
            {name: ran[rows] for name, ran in self.ran.items()},
            {name: choices[rows] for name, choices in self.routes.items()},
            self.targets,
            versions=self.versions,
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
        found = {name: f[row] for name, f in self.failures.items() if row in f}
        return first_failure(found, order, self.row_example(row), self.row_key(row))

    def row_example(self, row: int) -> Any:
        """The input of one row (an element that could not be read: what was read)."""
        example = self.example.row(row)
        return example.example if type(example) is Failure else example

    def row_results(self, order: Sequence[str]) -> list[GraphResult]:
        """Every row's result, as :meth:`row_result` gives it, built column by column: rows
        that went the same way through the graph share one :class:`Lineage` (computed once per
        way, not per row; read-only, as results are)."""
        return list(self.each_row_result(order))

    def each_row_result(self, order: Sequence[str]) -> Iterator[GraphResult]:
        """:meth:`row_results`, each made as it is read where every output of every row got a
        value (the common case: then none is alive for long, which spares Python's garbage
        collector walking a batch of them again and again)."""
        rows = self.rows
        keys = self.example.keys.tolist() if self.example.keys is not None else [self.key] * rows
        examples = self._row_examples()
        lineages = self._lineages(order)
        columns = {name: _row_list(self.values[name], rows) for name in self.values}
        names = list(self.valid)
        if self.all_valid():
            values: Iterable[dict[str, Any]]
            if len(names) == 1:  # the common case, without a zip per row
                (name,) = names
                values = ({name: value} for value in columns[name])
            elif names:
                rows_values = zip(*(columns[name] for name in names), strict=True)
                values = (dict(zip(names, row, strict=True)) for row in rows_values)
            else:
                values = ({} for _ in keys)
            return (
                GraphResult(key, example, row_values, {}, (), lineage)
                for key, example, row_values, lineage in zip(
                    keys, examples, values, lineages, strict=True
                )
            )
        results = []
        for row in range(rows):
            row_values, failures, skipped = self._row_parts(row, columns)
            results.append(
                GraphResult(keys[row], examples[row], row_values, failures, skipped, lineages[row])
            )
        return iter(results)

    def all_valid(self) -> bool:
        """Every output node got a value for every row."""
        return all(valid.all() for valid in self.valid.values())

    def _row_examples(self) -> list[Any]:
        """Every row's input, as :meth:`row_example` gives it."""
        data = self.example.data
        if not (isinstance(data, np.ndarray) and data.dtype == object and data.ndim == 1):
            return [self.row_example(row) for row in range(self.rows)]
        examples: list[Any] = data.tolist()
        if Failure in set(map(type, examples)):
            return [e.example if type(e) is Failure else e for e in examples]
        return examples

    def _row_parts(
        self, row: int, columns: Mapping[str, list[Any]]
    ) -> tuple[dict[str, Any], dict[str, Failure], tuple[str, ...]]:
        values: dict[str, Any] = {}
        failures: dict[str, Failure] = {}
        skipped: list[str] = []
        for name, valid in self.valid.items():
            if valid[row]:
                values[name] = columns[name][row]
            elif row in self.failures.get(name, ()):
                failures[name] = self.failures[name][row]
            else:
                skipped.append(name)
        return values, failures, tuple(skipped)

    def _lineages(self, order: Sequence[str]) -> list[Lineage]:
        """Each row's lineage, computed once per distinct way through the graph (shared)."""
        rows = self.rows
        ran = [name for name in order if name in self.ran]
        routed = list(self.routes)
        if not rows:
            return []
        signature = np.zeros((rows, len(ran) + len(routed)), dtype=np.int64)
        for column, name in enumerate(ran):
            signature[:, column] = self.ran[name]
        for column, name in enumerate(routed, start=len(ran)):
            signature[:, column] = self.routes[name]
        if (signature == signature[0]).all():  # the common case: every row went one way
            return [self.lineage(0, order)] * rows
        ways, which = np.unique(signature, axis=0, return_inverse=True)
        parts = [
            self.lineage(int(np.flatnonzero(which == way)[0]), order) for way in range(len(ways))
        ]
        return [parts[way] for way in which.reshape(-1).tolist()]

    def row_result(self, row: int, order: Sequence[str]) -> GraphResult:
        """The result of one row, as the element alone would get it."""
        values: dict[str, Any] = {}
        failures: dict[str, Failure] = {}
        skipped: list[str] = []
        for name, valid in self.valid.items():
            if valid[row]:
                values[name] = row_of(self.values[name], row)
            elif row in self.failures.get(name, ()):
                failures[name] = self.failures[name][row]
            else:
                skipped.append(name)
        return GraphResult(
            self.row_key(row),
            self.row_example(row),
            values,
            failures,
            tuple(skipped),
            self.lineage(row, order),
        )
