"""Planning model calls: how many examples go in one call, and padding to a fixed batch size."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import numpy as np

from .blocks import Block

T = TypeVar("T")


class Item(NamedTuple):
    """One input element on its way through a handler (a tuple: cheap to make per element)."""

    key: Any
    example: Any

    @property
    def rows(self) -> int:
        """Examples this element holds: a block's rows, else 1."""
        return self.example.rows if isinstance(self.example, Block) else 1


def estimate_nbytes(example: Any) -> int:
    """A cheap size estimate of one example, for byte budgets."""
    if isinstance(example, np.ndarray | Block):
        return int(example.nbytes)
    if isinstance(example, bytes | bytearray | str):
        return len(example)
    if isinstance(example, Mapping):
        return sum(estimate_nbytes(value) for value in example.values())
    if isinstance(example, list | tuple):
        return sum(estimate_nbytes(value) for value in example) if example else 0
    byte_size = getattr(example, "ByteSize", None)
    if callable(byte_size):
        return int(byte_size())
    return 8


def plan_calls(items: Sequence[Item], max_size: int, max_bytes: int | None) -> Iterator[list[Item]]:
    """Split plain (non-block) items into model calls within the size and byte limits."""
    if not max_bytes:  # by count alone: slices, no per-item work
        for start in range(0, len(items), max_size):
            yield list(items[start : start + max_size])
        return
    call: list[Item] = []
    call_bytes = 0
    for item in items:
        size = estimate_nbytes(item.example) if max_bytes else 0
        if call and (len(call) >= max_size or (max_bytes and call_bytes + size > max_bytes)):
            yield call
            call, call_bytes = [], 0
        call.append(item)
        call_bytes += size
    if call:
        yield call


def chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` values."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def padded(examples: list[Any], size: int) -> list[Any]:
    """``examples`` filled up to ``size`` by repeating the last one (a valid example)."""
    return examples + [examples[-1]] * (size - len(examples)) if examples else examples


def padded_block(block: Block, size: int) -> Block:
    """``block`` filled up to ``size`` rows by repeating its last row."""
    missing = size - block.rows
    if missing <= 0 or block.rows == 0:
        return block

    def fill(array: Any) -> Any:
        array = np.asarray(array)
        return np.concatenate([array, np.repeat(array[-1:], missing, axis=0)])

    if isinstance(block.data, Mapping):
        return Block({name: fill(value) for name, value in block.data.items()})
    return Block(fill(block.data))
