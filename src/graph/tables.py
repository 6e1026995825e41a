"""Graph results as Arrow tables: the columns a Parquet output holds.

Columns: ``key`` (text: a string key as itself, any other key as its JSON text, so that one
column holds every key whatever their types), one per output node (``null`` where the element
or row has no value; a node with several outputs becomes one column per output,
``node.output``), and ``status`` (dictionary encoded). A block's columns are converted whole (an
N-D column becomes a column of lists nested N - 1 deep, so a row keeps its shape); elements one
at a time are gathered row by row. A column whose values mix types (``1`` and ``"a"``) is
written as text, each value as :func:`text` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from ..core.errors import ConfigError
from .block_state import STATUSES, BlockResult
from .records import dumps, to_jsonable
from .state import GraphResult


def results_table(results: Sequence[GraphResult | BlockResult], nodes: Sequence[str]) -> Any:
    """One Arrow table of every element (and block row) of ``results``."""
    tables = [_block_table(r, nodes) if isinstance(r, BlockResult) else None for r in results]
    singles = [r for r in results if isinstance(r, GraphResult)]
    parts = [t for t in tables if t is not None]
    if singles:
        parts.append(_rows_table(singles, nodes))
    return concat(parts, "")


def concat(tables: Sequence[Any], output: str) -> Any:
    """One table of ``tables``; a column whose types differ between them becomes text.

    Raises:
        ConfigError: (see :func:`conform`).
    """
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        fields: dict[str, Any] = {}
        for table in tables:
            for field in table.schema:
                known = fields.setdefault(field.name, field)
                if pa.types.is_null(known.type) or known.type == field.type:
                    fields[field.name] = field
                elif not pa.types.is_null(field.type):
                    fields[field.name] = pa.field(field.name, pa.string())
        schema = pa.schema(list(fields.values()))
        return pa.concat_tables([conform(t, schema, output) for t in tables])


def conform(table: Any, schema: Any, output: str) -> Any:
    """``table`` cast to ``schema``: a column it lacks is null, a column that does not cast to
    text is written as text.

    Raises:
        ConfigError: ``table`` has a column ``schema`` lacks, or a column cannot take the type
            ``schema`` gives it (a node's values of one type in one part of ``output`` and of
            another type, not text, in the next).
    """
    extra = [name for name in table.column_names if name not in schema.names]
    if extra:
        raise ConfigError(
            f"the Parquet output {output!r}: columns {extra} appear after its columns were set "
            f"({', '.join(schema.names)}); a Parquet file has one set of columns: make each "
            "node return the same fields for every element, or write this output as jsonl"
        )
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError):
        pass
    rows = table.num_rows
    return pa.table(
        {f.name: _conform_column(table, f, rows, output) for f in schema}, schema=schema
    )


def _conform_column(table: Any, field: Any, rows: int, output: str) -> Any:
    if field.name not in table.column_names:
        return pa.nulls(rows, field.type)
    column = table.column(field.name)
    try:
        return column.cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        if field.type != pa.string():
            raise ConfigError(
                f"the Parquet output {output!r}: column {field.name!r} holds {field.type} "
                f"values, then {column.type} values; a Parquet column has one type: make "
                f"node {field.name.partition('.')[0]!r} return values of one type, or "
                "write this output as jsonl"
            ) from None
        return pa.array([text(v) for v in column.to_pylist()], pa.string())


def text(value: Any) -> str | None:
    """A key (or a value of a mixed column) as text: a string as itself, ``None`` as null,
    anything else as its JSON text (``7`` as ``"7"``, ``[1, 2]`` as ``"[1, 2]"``)."""
    if value is None or isinstance(value, str):
        return value
    return dumps(value)


def _block_table(result: BlockResult, nodes: Sequence[str]) -> Any:
    columns: dict[str, Any] = {"key": _keys(result)}
    for name in nodes:
        valid = result.valid.get(name, np.zeros(result.rows, dtype=bool))
        column = result.values.get(name)
        if isinstance(column, Mapping):
            for field, values in column.items():
                columns[f"{name}.{field}"] = _array(values, valid)
        else:
            columns[name] = _array(column, valid) if column is not None else pa.nulls(result.rows)
    columns["status"] = status_column(result.statuses())
    return pa.table(columns)


def _rows_table(results: Sequence[GraphResult], nodes: Sequence[str]) -> Any:
    table = {"key": key_column([r.key for r in results])}
    for name in nodes:
        values = [r.values.get(name) for r in results]
        for label, column in _node_columns(name, values).items():
            table[label] = _column([to_jsonable(v) for v in column])
    table["status"] = status_column(np.array([STATUSES.index(r.status) for r in results]))
    return pa.table(table)


def _node_columns(name: str, values: list[Any]) -> dict[str, list[Any]]:
    """A node's values (``None`` where an element has none) as columns: one per field when
    every value is a mapping (``node.field``; ``None`` where a mapping lacks the field), else
    one column of the values."""
    present = [v for v in values if v is not None]
    if not present or not all(isinstance(v, Mapping) for v in present):
        return {name: values}
    fields = dict.fromkeys(field for value in present for field in value)
    return {
        f"{name}.{field}": [None if v is None else v.get(field) for v in values] for field in fields
    }


def status_column(codes: np.ndarray[Any, Any]) -> Any:
    """Row statuses (codes into :data:`STATUSES`) as a dictionary-encoded column."""
    indices = pa.array(np.asarray(codes, dtype=np.int8))
    return pa.DictionaryArray.from_arrays(indices, pa.array(STATUSES))


def _keys(result: BlockResult) -> Any:
    keys = result.example.keys
    if keys is None:
        return key_column([result.key] * result.rows)
    return key_column(keys)


def key_column(keys: Sequence[Any] | np.ndarray[Any, Any]) -> Any:
    """Keys as a text column (see :func:`text`)."""
    if isinstance(keys, np.ndarray):
        if keys.dtype.kind in "iuU":
            return pa.array(keys).cast(pa.string())
        keys = keys.tolist()
    try:
        column = pa.array(keys)  # strings (and nulls) as they are, at Arrow's speed
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        column = None
    if column is not None and (pa.types.is_string(column.type) or pa.types.is_null(column.type)):
        return column.cast(pa.string())
    return pa.array([text(key) for key in keys], pa.string())


def _column(values: list[Any]) -> Any:
    """Python values as a column, as text if they mix types (see :func:`text`)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return pa.array([text(v) for v in values], pa.string())


def _array(values: Any, valid: np.ndarray[Any, Any]) -> Any:
    array = np.asarray(values)
    if array.dtype == object:
        return _column([to_jsonable(v) if ok else None for v, ok in zip(array, valid, strict=True)])
    try:
        return _numeric(array, ~valid)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):  # complex, ...
        return _column([to_jsonable(v) if ok else None for v, ok in zip(array, valid, strict=True)])


def _numeric(array: np.ndarray[Any, Any], mask: np.ndarray[Any, Any]) -> Any:
    if array.ndim == 1:
        return pa.array(array, mask=mask)
    # Nested list columns, one level per axis, so that a row of shape [a, b] reads back as
    # a's lists of b values, as JSONL writes it (not fixed-size: Parquet cannot read back a
    # null in a fixed-size list).
    nested = pa.array(array.reshape(-1))
    for axis in range(array.ndim - 1, 0, -1):
        nested = _lists(nested, int(np.prod(array.shape[:axis])), array.shape[axis])
    if mask.any():
        nested = type(nested).from_arrays(nested.offsets, nested.values, mask=pa.array(mask))
    return nested


def _lists(values: Any, count: int, width: int) -> Any:
    """``values`` cut into ``count`` lists of ``width`` items each."""
    offsets = np.arange(count + 1, dtype=np.int64) * width
    if offsets[-1] > np.iinfo(np.int32).max:  # past 32-bit offsets: a large list
        return pa.LargeListArray.from_arrays(pa.array(offsets), values)
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values)
