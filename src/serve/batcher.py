"""The dynamic batcher: rows of concurrent requests run through the graph as one block.

One batch runs at a time, on one thread; the requests that arrive meanwhile wait, and the next
batch takes them all (up to ``max_batch_size`` rows), as Triton's dynamic batcher does. With
``max_queue_delay_ms`` above 0, a batch that cannot fill waits that long after its first request
for others; with 0 (the default) it runs as soon as the model is free, so a lone request never
waits for company that is not coming.

Each request keeps its rows: its block is concatenated with the others', and its answer is its
own slice of the result. Only requests whose tensors have the same names, datatypes and row
shapes share a batch. A request that gives up (deadline, disconnect) before its batch starts
leaves the queue; one that gives up later leaves its rows to run and their result unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.blocks import Block
from ..core.errors import RequestError

Columns = dict[str, np.ndarray[Any, Any]]
Signature = tuple[tuple[str, str, tuple[int, ...]], ...]
RunBlock = Callable[[Block], Any]


def signature_of(columns: Mapping[str, np.ndarray[Any, Any]]) -> Signature:
    """What requests must share to be batched: input names, dtypes and row shapes."""
    return tuple(sorted((n, a.dtype.str, tuple(a.shape[1:])) for n, a in columns.items()))


@dataclass(eq=False)
class Pending:
    """A request waiting in the queue, and the future its answer arrives on."""

    columns: Columns
    rows: int
    signature: Signature
    enqueued: float
    future: asyncio.Future[Slice]
    left: bool = False


@dataclass(frozen=True)
class Slice:
    """A request's part of a batch's result.

    Attributes:
        result: What running the batch gave (the whole batch's).
        start: The request's first row in the batch.
        rows: Its rows.
        batch_rows: The rows of the whole batch.
        waited_s: How long the request waited in the queue.
    """

    result: Any
    start: int
    rows: int
    batch_rows: int
    waited_s: float


@dataclass
class Batcher:
    """Coalesces requests into blocks and runs them with ``run`` on its own thread.

    Attributes:
        run: Runs one block (on the batcher's thread) and returns its result.
        max_batch_size: The most rows in one batch (a bigger request runs alone).
        max_queue_delay_s: How long a batch that cannot fill waits after its first request.
        max_queue_rows: Rows waiting at most; a request beyond is refused with 503.
        on_batch: Called with the rows of each batch run.
        clock: Monotonic seconds.
    """

    run: RunBlock
    max_batch_size: int
    max_queue_delay_s: float = 0.0
    max_queue_rows: int = 8192
    on_batch: Callable[[int], None] = lambda rows: None
    clock: Callable[[], float] = time.monotonic
    _queue: deque[Pending] = field(default_factory=deque)
    _queued_rows: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="infergraph-batch")
    )
    running: int = 0

    @property
    def depth(self) -> int:
        """Requests waiting for a batch."""
        return len(self._queue)

    def submit(self, columns: Columns, rows: int) -> Pending:
        """Queue a request's columns; await ``pending.future`` for its :class:`Slice`.

        Raises:
            RequestError: the queue is full (503, with ``Retry-After``).
        """
        if self._queued_rows + rows > self.max_queue_rows and self._queue:
            raise RequestError(
                f"the server's queue is full ({self._queued_rows} rows waiting, "
                f"serving.max_queue_rows is {self.max_queue_rows}); retry later",
                503,
                {"Retry-After": "1"},
            )
        loop = asyncio.get_running_loop()
        pending = Pending(columns, rows, signature_of(columns), self.clock(), loop.create_future())
        self._queue.append(pending)
        self._queued_rows += rows
        self._arrived.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._serve())
        return pending

    def leave(self, pending: Pending) -> None:
        """Take a request that gave up out of the queue (no effect once its batch started)."""
        if not pending.left and pending in self._queue:
            self._queue.remove(pending)
            self._queued_rows -= pending.rows
        pending.left = True

    async def close(self) -> None:
        """Stop taking batches once the queue is empty, and release the thread."""
        while self._queue or self.running:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False)

    async def _serve(self) -> None:
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            await self._fill()
            batch = self._take()
            if batch:
                await self._run(batch)

    async def _fill(self) -> None:
        """Wait, up to the delay after the first request, while the batch cannot fill."""
        if self.max_queue_delay_s <= 0:
            return
        first = self._queue[0]
        until = first.enqueued + self.max_queue_delay_s
        while self._compatible_rows(first) < self.max_batch_size and self._queue[0] is first:
            left = until - self.clock()
            if left <= 0:
                return
            self._arrived.clear()
            # A timer may fire a little early (uvloop's are in whole milliseconds): the loop
            # checks the time left again rather than trusting it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
            if not self._queue:
                return

    def _compatible_rows(self, first: Pending) -> int:
        return sum(p.rows for p in self._queue if p.signature == first.signature)

    def _take(self) -> list[Pending]:
        if not self._queue:
            return []
        first = self._queue[0]
        batch: list[Pending] = []
        rows = 0
        for pending in list(self._queue):
            if pending.signature != first.signature:
                continue
            if batch and rows + pending.rows > self.max_batch_size:
                break
            batch.append(pending)
            rows += pending.rows
        for pending in batch:
            self._queue.remove(pending)
        self._queued_rows -= rows
        return batch

    async def _run(self, batch: list[Pending]) -> None:
        started = self.clock()
        block = _concatenate(batch)
        self.running += 1
        try:
            self.on_batch(block.rows)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._executor, self.run, block)
        except Exception as exc:  # a whole batch that failed: each request hears why
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        finally:
            self.running -= 1
        start = 0
        for pending in batch:
            waited = started - pending.enqueued
            if not pending.future.done():
                pending.future.set_result(Slice(result, start, pending.rows, block.rows, waited))
            start += pending.rows


def _concatenate(batch: list[Pending]) -> Block:
    """The requests' columns as one block, its rows keyed by their index in the batch."""
    names = list(batch[0].columns)
    if len(batch) == 1:
        columns = batch[0].columns
    else:
        columns = {n: np.concatenate([p.columns[n] for p in batch]) for n in names}
    rows = sum(p.rows for p in batch)
    data: Any = columns[names[0]] if names == [""] else columns
    return Block(data, keys=np.arange(rows))
