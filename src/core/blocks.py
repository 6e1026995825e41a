"""Blocks: many rows carried as one element, so no per-row Python work happens anywhere."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import InputError

ArrayOrDict = np.ndarray[Any, Any] | Mapping[str, np.ndarray[Any, Any]]


@dataclass(frozen=True, slots=True, eq=False)
class Block:
    """Many examples as one element: an array (rows along axis 0) or a dict of such arrays.

    A block goes through a handler without per-row Python work: it is sliced into model calls
    of at most ``max_batch_size`` rows and its prediction is one output block (an array, or a
    dict of arrays) with the same number of rows.

    ``keys`` optionally gives each row its own key (a column beside the data): then a row the
    model fails on becomes a failure with its key, and the block's other rows still get their
    predictions. Without row keys, the element's key (if any) applies to the block as a whole.

    Example:
        >>> import numpy as np
        >>> Block(np.zeros((3, 2)), keys=["a", "b", "c"]).rows
        3
    """

    data: ArrayOrDict
    keys: np.ndarray[Any, Any] | None = None
    _rows: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rows = _row_counts(self.data)
        object.__setattr__(self, "_rows", rows[0])
        if len(set(rows)) != 1:
            raise InputError(f"every array of a block must have the same rows; got {rows}")
        if self.keys is not None:
            keys = np.asarray(self.keys)
            if keys.ndim != 1 or len(keys) != rows[0]:
                raise InputError(
                    f"a block's keys must be one per row: {rows[0]} rows, keys of shape "
                    f"{list(keys.shape)}"
                )
            object.__setattr__(self, "keys", keys)

    @property
    def rows(self) -> int:
        """The number of rows (examples) in the block."""
        return self._rows

    @property
    def nbytes(self) -> int:
        """The bytes of the block's arrays."""
        if isinstance(self.data, Mapping):
            return sum(int(np.asarray(v).nbytes) for v in self.data.values())
        return int(np.asarray(self.data).nbytes)

    def slice(self, start: int, stop: int) -> Block:
        """Rows ``start:stop`` as a block (numpy views, no copy)."""
        keys = None if self.keys is None else self.keys[start:stop]
        if isinstance(self.data, Mapping):
            return Block({name: value[start:stop] for name, value in self.data.items()}, keys)
        return Block(self.data[start:stop], keys)

    def take(self, rows: np.ndarray[Any, Any]) -> Block:
        """The rows at ``rows`` (indexes or a boolean mask) as a new block."""
        keys = None if self.keys is None else self.keys[rows]
        if isinstance(self.data, Mapping):
            return Block({name: np.asarray(v)[rows] for name, v in self.data.items()}, keys)
        return Block(np.asarray(self.data)[rows], keys)

    def row(self, index: int) -> Any:
        """Row ``index`` as an example: an array row, or a dict of them."""
        if isinstance(self.data, Mapping):
            return {name: np.asarray(value)[index] for name, value in self.data.items()}
        return np.asarray(self.data)[index]

    def chunks(self, rows: int) -> Iterator[Block]:
        """Consecutive slices of at most ``rows`` rows."""
        total = self.rows
        if total <= rows:
            yield self
            return
        for start in range(0, total, rows):
            yield self.slice(start, min(start + rows, total))

    def __repr__(self) -> str:
        keyed = "" if self.keys is None else ", keyed"
        if isinstance(self.data, Mapping):
            inner = ", ".join(f"{k}: {_describe(v)}" for k, v in self.data.items())
            return f"Block({{{inner}}}{keyed})"
        return f"Block({_describe(self.data)}{keyed})"


def concat_outputs(parts: list[Any]) -> Any:
    """Join the outputs of consecutive chunks of one block back into one output block."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    if isinstance(first, Mapping):
        return {name: np.concatenate([part[name] for part in parts]) for name in first}
    return np.concatenate(parts)


def _row_counts(data: ArrayOrDict) -> list[int]:
    arrays = list(data.values()) if isinstance(data, Mapping) else [data]
    if not arrays:
        raise InputError("a block needs at least one array")
    counts = []
    for array in arrays:
        shape = np.shape(array)
        if not shape:
            raise InputError("a block's arrays need a leading row axis; got a scalar")
        counts.append(int(shape[0]))
    return counts


def _describe(value: Any) -> str:
    array = np.asarray(value)
    return f"{array.dtype}{list(array.shape)}"
