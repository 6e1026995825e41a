"""Graph results as Arrow tables: the columns a Parquet output holds.

Columns: ``key``, one per output node (``null`` where the element or row has no value; a node
with several outputs becomes one column per output, ``node.output``), and ``status`` (dictionary
encoded). A block's
columns are converted whole (an N-D column becomes a column of lists nested N - 1 deep, so a
row keeps its shape); elements one at a time are gathered row by row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .graph.block_state import STATUSES, BlockResult
from .graph.state import GraphResult
from .records import to_jsonable


def results_table(results: Sequence[GraphResult | BlockResult], nodes: Sequence[str]) -> Any:
    """One Arrow table of every element (and block row) of ``results``."""
    import pyarrow as pa

    tables = [_block_table(r, nodes) if isinstance(r, BlockResult) else None for r in results]
    singles = [r for r in results if isinstance(r, GraphResult)]
    parts = [t for t in tables if t is not None]
    if singles:
        parts.append(_rows_table(singles, nodes))
    if len(parts) == 1:
        return parts[0]
    return pa.concat_tables(parts, promote_options="permissive")


def _block_table(result: BlockResult, nodes: Sequence[str]) -> Any:
    import pyarrow as pa

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
    import pyarrow as pa

    columns: dict[str, list[Any]] = {"key": [to_jsonable(r.key) for r in results]}
    for name in nodes:
        fields = next(
            (list(r.values[name]) for r in results if isinstance(r.values.get(name), Mapping)),
            None,
        )
        for field in fields or [None]:
            label = name if field is None else f"{name}.{field}"
            columns[label] = [
                to_jsonable(r.values[name] if field is None else r.values[name][field])
                if name in r.values
                else None
                for r in results
            ]
    table = {name: pa.array(values) for name, values in columns.items()}
    table["status"] = status_column(np.array([STATUSES.index(r.status) for r in results]))
    return pa.table(table)


def status_column(codes: np.ndarray[Any, Any]) -> Any:
    """Row statuses (codes into :data:`STATUSES`) as a dictionary-encoded column."""
    import pyarrow as pa

    indices = pa.array(np.asarray(codes, dtype=np.int8))
    return pa.DictionaryArray.from_arrays(indices, pa.array(STATUSES))


def _keys(result: BlockResult) -> Any:
    import pyarrow as pa

    keys = result.example.keys
    if keys is None:
        return pa.array([to_jsonable(result.key)] * result.rows)
    return pa.array(keys if keys.dtype != object else keys.tolist())


def _array(values: Any, valid: np.ndarray[Any, Any]) -> Any:
    import pyarrow as pa

    array = np.asarray(values)
    mask = ~valid
    if array.dtype == object:
        return pa.array(
            [to_jsonable(v) if ok else None for v, ok in zip(array, valid, strict=True)]
        )
    if array.ndim == 1:
        return pa.array(array, mask=mask)
    # Nested list columns, one level per axis, so that a row of shape [a, b] reads back as
    # a's lists of b values, as JSONL writes it (not fixed-size: Parquet cannot read back a
    # null in a fixed-size list).
    nested = pa.array(array.reshape(-1))
    for axis in range(array.ndim - 1, 0, -1):
        nested = _lists(nested, int(np.prod(array.shape[:axis])), array.shape[axis])
    if mask.any():
        nested = pa.ListArray.from_arrays(nested.offsets, nested.values, mask=pa.array(mask))
    return nested


def _lists(values: Any, count: int, width: int) -> Any:
    """``values`` cut into ``count`` lists of ``width`` items each."""
    import pyarrow as pa

    offsets = pa.array(np.arange(count + 1, dtype=np.int32) * width)
    return pa.ListArray.from_arrays(offsets, values)
