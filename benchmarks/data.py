"""The benchmark's rows: the same rows for every variant, made outside the timed part.

Rows come in chunks of ``block_rows``. Chunk ``i`` is ``pool[i % POOL]``, where the pool is
``POOL`` arrays drawn from seeds ``0 .. POOL-1``: every variant sees the same rows in the same
order, generating them costs nothing per row, and memory does not grow with the row count (a
2 M-row variant holds the same pool as a 200 k-row one). In-process variants build the pool
before timing; Beam variants read chunks through ``Create(range(chunks)) | FlatMap(make_rows)``,
so only chunk numbers are pickled into the pipeline, and a worker process builds its pool once,
on its first chunk (the DirectRunner's in-memory mode runs in the process that built it already).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

POOL_BYTES = 48 * 2**20
"""At most this many bytes of distinct rows (and at most :data:`MAX_POOL` chunks)."""
MAX_POOL = 8

_POOLS: dict[tuple[tuple[int, ...], int], list[np.ndarray]] = {}


def pool(shape: tuple[int, ...], block_rows: int) -> list[np.ndarray]:
    """The distinct chunks of rows of ``shape`` (float32, standard normal), built once."""
    key = (shape, block_rows)
    if key not in _POOLS:
        chunk_bytes = block_rows * int(np.prod(shape)) * 4
        count = max(1, min(MAX_POOL, POOL_BYTES // chunk_bytes))
        _POOLS[key] = [
            np.random.default_rng(seed).standard_normal((block_rows, *shape), dtype=np.float32)
            for seed in range(count)
        ]
    return _POOLS[key]


def chunk(shape: tuple[int, ...], block_rows: int, index: int) -> np.ndarray:
    """Chunk ``index`` of the rows (read-only: the same array comes back for other indexes)."""
    chunks = pool(shape, block_rows)
    return chunks[index % len(chunks)]


@dataclass(frozen=True)
class Rows:
    """``rows`` rows of ``shape``, in chunks of ``block_rows``."""

    shape: tuple[int, ...]
    rows: int
    block_rows: int

    def __post_init__(self) -> None:
        if self.rows <= 0 or self.rows % self.block_rows:
            raise ValueError(
                f"rows ({self.rows}) must be a positive multiple of the block size "
                f"({self.block_rows})"
            )

    @property
    def chunks(self) -> int:
        """The number of chunks."""
        return self.rows // self.block_rows

    def warm(self) -> None:
        """Build the pool now (outside the timed part)."""
        pool(self.shape, self.block_rows)

    def arrays(self) -> Iterator[np.ndarray]:
        """Every chunk, in order."""
        for index in range(self.chunks):
            yield chunk(self.shape, self.block_rows, index)

    def each_row(self) -> Iterator[np.ndarray]:
        """Every row (a view into its chunk), in order."""
        for array in self.arrays():
            yield from array

    def make_rows(self, *, blocks: bool) -> MakeRows:
        """The Beam ``FlatMap`` function from a chunk number to its rows (or its block)."""
        return MakeRows(self.shape, self.block_rows, blocks)


@dataclass(frozen=True)
class MakeRows:
    """Chunk number -> its rows, one element per row, or one :class:`infergraph.Block`.

    Pickled into the pipeline by value: it holds only the shape and sizes, never rows.
    """

    shape: tuple[int, ...]
    block_rows: int
    blocks: bool

    def __call__(self, index: int) -> Iterator[Any]:
        array = chunk(self.shape, self.block_rows, index)
        if self.blocks:
            import infergraph as ig

            yield ig.Block(array)
        else:
            yield from array
