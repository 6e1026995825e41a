"""Bad cells of columnar files: the row that holds one fails alone, the rest stay a block.

A CSV file read as blocks is read as text and typed here, column by column, the way its first
block with values shows: a column at least half of whose cells are numbers is a number column,
and a cell in it that is no number (``"abc"`` among numbers) makes its row a failure naming the
file, the row, the column and the value, instead of failing the whole block (or, past the first
block Arrow reads, the whole run). A cell that is not valid UTF-8 fails its row the same way. In
Parquet and Arrow files, a null in a list column (a row with no list of values) or a list of
another length than most rows hold fails its row; in TFRecords, an example without a feature
most records have, or with another number of values. Values with no length that most rows hold
(ragged lists) are left as they are. The key column and columns the graph does not read never
fail a row.

Rows are numbered from 1, counting records (in a CSV file, those after the header).
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InputError
from ..core.results import Failure

NULLS = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "n/a",
    "nan",
    "null",
)
"""Cells that are a missing value in a number column (Arrow's CSV defaults): NaN in a block."""

_NOT_A_NUMBER = object()


@dataclass
class CsvColumns:
    """Types the text columns of one CSV file's batches; remembers each column's kind.

    Attributes:
        name: The file, for failure messages.
        checked: The columns whose bad cells fail their row (``None``: every column but the key).
        key_field: The key column (never fails a row; each failure carries its row's key).
    """

    name: str
    checked: frozenset[str] | None
    key_field: str | None
    kinds: dict[str, str] = field(default_factory=dict)

    def typed(self, batch: Any, first_row: int) -> tuple[Any, list[Failure]]:
        """``batch`` (binary columns) typed, less its bad rows; the failures of those rows."""
        import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

        problems: dict[int, str] = {}
        names = batch.schema.names
        texts = [_text(batch.column(i), column, problems) for i, column in enumerate(names)]
        typed = [self._column(c, t, problems) for c, t in zip(names, texts, strict=True)]
        table = pa.Table.from_arrays(typed, names=names)
        if not problems:
            return table, []
        rows = pa.Table.from_arrays(texts, names=names)
        failures = [
            self._failure(rows, table, row, first_row, problem)
            for row, problem in sorted(problems.items())
        ]
        keep = pa.array([row not in problems for row in range(table.num_rows)])
        return table.filter(keep), failures

    def _column(self, column: str, text: Any, problems: dict[int, str]) -> Any:
        """One column typed: numbers, text or bools; a bad cell of a number column adds its
        row to ``problems``."""
        if column != self.key_field and not self._checked(column):
            return text  # the graph does not read it
        if self.kinds.get(column) == "text":
            return _text_or_bool(text)
        values = _missing_as_null(text)
        numbers = _arrow_numbers(values)
        if numbers is not None:
            if column != self.key_field and values.null_count < len(values):
                self.kinds.setdefault(column, "number")
            return numbers
        if column == self.key_field:
            return _text_or_bool(text)
        parsed = [_number(v) for v in values.to_pylist()]
        if self.kinds.setdefault(column, _kind_of(parsed)) == "text":
            return _text_or_bool(text)
        for row, cell in _bad_cells(parsed, text):
            problems.setdefault(
                row,
                f"column {column!r} holds {cell!r}, not a number as the column's other values "
                "are; fix the value",
            )
        return _number_array([None if v is _NOT_A_NUMBER else v for v in parsed])

    def _checked(self, column: str) -> bool:
        if column == self.key_field:
            return False
        return self.checked is None or column in self.checked

    def _failure(self, rows: Any, table: Any, row: int, first_row: int, problem: str) -> Failure:
        record = {k: v[0] for k, v in rows.slice(row, 1).to_pydict().items()}
        key = None
        if self.key_field is not None and self.key_field in table.column_names:
            key = table.column(self.key_field)[row].as_py()
            record.pop(self.key_field, None)
        return input_failure(f"{self.name}, row {first_row + row}: {problem}", record, key)


def _kind_of(parsed: list[Any]) -> str:
    """``number`` for a column at least half of whose values (missing ones aside) are numbers:
    then its rows that hold a number get what they would get alone, and the others fail."""
    bad = sum(1 for v in parsed if v is _NOT_A_NUMBER)
    good = sum(1 for v in parsed if v is not None) - bad
    return "number" if good >= bad else "text"


def _bad_cells(parsed: list[Any], text: Any) -> list[tuple[int, str]]:
    return [(row, text[row].as_py()) for row, v in enumerate(parsed) if v is _NOT_A_NUMBER]


def _is_list(kind: Any) -> bool:
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

    types = pa.types
    return bool(types.is_list(kind) or types.is_large_list(kind) or types.is_fixed_size_list(kind))


def odd_list_rows(
    table: Any, name: str, first_row: int, checked: Iterable[str], key_field: str | None
) -> tuple[Any, list[Failure]]:
    """``table`` less its rows with a null in a list column of ``checked``, or another number
    of values than most rows hold; the failures of those rows."""
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)
    import pyarrow.compute as pc  # noqa: PLC0415 (pyarrow: lazy)

    problems: dict[int, str] = {}
    for column in checked:
        if column == key_field or column not in table.column_names:
            continue
        if not _is_list(table.column(column).type):
            continue
        counts = pc.list_value_length(table.column(column))
        if counts.null_count == 0:
            same = counts.to_numpy()
            if not len(same) or (same == same[0]).all():  # the common case, checked at once
                continue
        lengths = counts.to_pylist()
        common = _common_length(lengths)
        for row, length in enumerate(lengths):
            if length is None:
                problem = "is null (no list of values, as its other rows have); fill it in"
            elif common is not None and length != common:
                problem = f"holds {length} values where most rows hold {common}"
            else:
                continue
            problems.setdefault(row, f"column {column!r} {problem}")
    if not problems:
        return table, []
    failures = []
    for row, problem in sorted(problems.items()):
        record = table.slice(row, 1).to_pylist()[0]
        key = record.pop(key_field, None) if key_field is not None else None
        failures.append(input_failure(f"{name}, row {first_row + row}: {problem}", record, key))
    keep = pa.array([row not in problems for row in range(table.num_rows)])
    return table.filter(keep), failures


def odd_feature_rows(rows: list[dict[str, Any]], checked: Iterable[str]) -> dict[int, str]:
    """The tf.Example rows (by index) that lack a feature of ``checked`` that most rows have, or
    hold another number of values than most rows do, each with its problem. A feature that no
    one length holds for most rows (a ragged one) is left as it is."""
    odd: dict[int, str] = {}
    for feature in checked:
        lengths = [len(row[feature]) if feature in row else None for row in rows]
        common = _common_length(lengths, missing_counts=True)
        if common is None:
            continue
        for index, length in enumerate(lengths):
            if length is None:
                odd.setdefault(index, f"no feature {feature!r}, which most records have")
            elif length != common:
                odd.setdefault(
                    index,
                    f"feature {feature!r} holds {length} values where most records hold {common}",
                )
    return odd


def _common_length(lengths: list[int | None], *, missing_counts: bool = False) -> int | None:
    """The length most rows have (more than half of them, or of those with a value unless
    ``missing_counts``); ``None`` for ragged values, whose rows are left as they are."""
    present = [n for n in lengths if n is not None]
    if not present:
        return None
    common, count = collections.Counter(present).most_common(1)[0]
    return common if count * 2 > (len(lengths) if missing_counts else len(present)) else None


def input_failure(message: str, example: Any, key: Any = None) -> Failure:
    """The failure of one record that could not be read (stage and node ``input``)."""
    return Failure(
        example=example,
        key=key,
        stage="input",
        node="input",
        error_type=InputError.__name__,
        message=message,
    )


def _text(column: Any, name: str, problems: dict[int, str]) -> Any:
    """A binary CSV column as text; a cell that is not UTF-8 fails its row (decoded with
    replacement characters, for the failure record)."""
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

    try:
        return column.cast(pa.string())
    except pa.ArrowInvalid:
        cells = []
        for row, cell in enumerate(column.to_pylist()):
            try:
                cells.append(None if cell is None else cell.decode("utf-8"))
            except UnicodeDecodeError as exc:
                problems.setdefault(
                    row, f"column {name!r} is not valid UTF-8 (byte {exc.start + 1} of the value)"
                )
                cells.append(cell.decode("utf-8", "replace"))
        return pa.array(cells, pa.string())


def _missing_as_null(text: Any) -> Any:
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)
    import pyarrow.compute as pc  # noqa: PLC0415 (pyarrow: lazy)

    missing = pc.is_in(text, value_set=pa.array(NULLS))
    return pc.if_else(missing, pa.scalar(None, pa.string()), text)


def _arrow_numbers(values: Any) -> Any:
    """``values`` (text, nulls for missing cells) as int64 or float64, as Arrow reads numbers;
    ``None`` if a cell is not one. The first value picks the casts to try (a cast that fails
    costs as much as a whole column's Python work)."""
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)
    import pyarrow.compute as pc  # noqa: PLC0415 (pyarrow: lazy)

    first = _number(_first_value(values))
    if first is _NOT_A_NUMBER:
        return None
    for kind in (
        (pa.int64(), pa.float64()) if first is None or isinstance(first, int) else (pa.float64(),)
    ):
        try:
            return pc.cast(values, kind)
        except pa.ArrowInvalid:
            continue
    return None


def _first_value(values: Any) -> str | None:
    valid = values.drop_null()
    return str(valid[0].as_py()) if len(valid) else None


def _number(text: str | None) -> Any:
    """A cell as an int or a float (as the row reader reads it), ``None`` when missing."""
    if text is None:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return _NOT_A_NUMBER


def _number_array(values: list[Any]) -> Any:
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

    if all(v is None or isinstance(v, int) for v in values):
        try:
            return pa.array(values, pa.int64())
        except (OverflowError, pa.ArrowInvalid):  # beyond int64: as a float, as Arrow reads it
            pass
    return pa.array([None if v is None else float(v) for v in values], pa.float64())


def _text_or_bool(text: Any) -> Any:
    """A text column, or a bool column when every cell is one of Arrow's true/false words."""
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)
    import pyarrow.compute as pc  # noqa: PLC0415 (pyarrow: lazy)

    if str(_first_value(text)).lower() not in ("true", "false"):
        return text
    try:
        return pc.cast(text, pa.bool_())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text
