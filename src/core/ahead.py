"""One chunk ahead: a chunk's work runs on a worker thread while the caller goes on.

A model call releases the GIL. What the caller does between two model calls (reading the next
elements, building and handing out the results of the last chunk, and on Beam everything Beam
does per element) is Python that would otherwise wait for it, and the model for it. With
:class:`Ahead`, ``work(chunk)`` runs on one worker thread, one chunk at a time and in order,
while the caller gathers the next chunk and hands out the results of the one before: at most
two chunks are held at once. Nothing else changes: one model call at a time, on the model's own
threads, and the same results in the same order.

The worker thread runs the graph's steps (handlers and function nodes); the caller's thread
reads the input and hands out results. A result comes out when the chunk after it has been
handed in (or the input ends), so results lag the input by one chunk more than the batching
alone. On a machine with one core, or with ``INFERGRAPH_OVERLAP=0`` in the environment, the
work runs in the caller's thread, chunk by chunk, as before.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

THREAD = "infergraph-ahead"
"""The worker thread's name."""
ENV = "INFERGRAPH_OVERLAP"
"""Set to ``0`` to run every chunk in the caller's thread."""


def overlap_enabled() -> bool:
    """Whether chunks run on a worker thread: more than one core, and not turned off."""
    return os.environ.get(ENV, "1") != "0" and (os.cpu_count() or 1) > 1


class Ahead(Generic[T, R]):
    """Runs ``work`` on chunks, one at a time and in order, one chunk ahead of the caller.

    Example:
        >>> ahead = Ahead(sum, threaded=True)
        >>> ahead.push([1, 2]), ahead.push([3]), ahead.drain()
        ([], [3], [3])
        >>> ahead.close()

    ``push`` starts a chunk and returns the result of the chunk before it (waiting for it),
    ``drain`` the result of the last one; an exception ``work`` raised comes out of the call
    that returns that chunk's result. Without overlap (see :func:`overlap_enabled`), ``push``
    runs the chunk at once and returns its own result.

    The worker is a daemon thread, started on the first chunk: a caller interrupted (Ctrl-C)
    need not wait for the chunk at work, and neither does the interpreter's exit.
    """

    def __init__(self, work: Callable[[T], R], *, threaded: bool | None = None) -> None:
        self.work = work
        self.threaded = overlap_enabled() if threaded is None else threaded
        self._jobs: queue.SimpleQueue[tuple[T, Future[R]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._running: Future[R] | None = None

    def push(self, chunk: T) -> list[R]:
        """Start ``chunk``; the result of the chunk pushed before it (none the first time)."""
        if not self.threaded:
            return [self.work(chunk)]
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=THREAD, daemon=True)
            self._thread.start()
        future: Future[R] = Future()
        self._jobs.put((chunk, future))
        before, self._running = self._running, future
        return [] if before is None else [before.result()]

    def drain(self) -> list[R]:
        """The result of the last chunk pushed, once done (none if every result was given)."""
        running, self._running = self._running, None
        return [] if running is None else [running.result()]

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker thread once the chunk at work (if any) is done; ``wait`` for it."""
        self._running = None
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            if wait:
                thread.join()

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            chunk, future = job
            try:
                result = self.work(chunk)
            except BaseException as exc:  # handed to the caller with its chunk's result
                future.set_exception(exc)
            else:
                future.set_result(result)


def one_ahead(work: Callable[[T], R], chunks: Iterable[T]) -> Iterator[R]:
    """``work(chunk)`` for each chunk, in order, each run while the caller reads the next one
    and uses the result before (see :class:`Ahead`).

    When reading a chunk raises, the result of the chunk at work still comes out first: every
    chunk read before the error gives its result, as without overlap.
    """
    ahead: Ahead[T, R] = Ahead(work)
    source = iter(chunks)
    finished = False
    try:
        while True:
            try:
                chunk = next(source)
            except StopIteration:
                break
            except Exception:
                yield from ahead.drain()
                raise
            yield from ahead.push(chunk)
        yield from ahead.drain()
        finished = True
    except (GeneratorExit, Exception):
        finished = True  # stopped early or failed: the chunk at work is short, wait for it
        raise
    finally:  # interrupted (Ctrl-C): leave the chunk at work to the daemon thread
        ahead.close(wait=finished)


__all__ = ["ENV", "THREAD", "Ahead", "one_ahead", "overlap_enabled"]
