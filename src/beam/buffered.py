"""Batching inside the DoFn that runs the batch: bounded pipelines in the global window.

A DoFn that can ``compute`` a batch (a list of elements) and ``emit`` the outputs of what it
computed gets :class:`Buffered` in front of it in its bases: elements then arrive one by one,
are held until they weigh ``batch_limit()`` rows (a block weighs its rows), and go to
``compute`` together; the rest of a bundle goes when the bundle ends. One step instead of
``BatchElements`` and a second one, and no per-element work beyond appending to a list.

Each batch is computed one batch ahead (:mod:`infergraph.core.ahead`): on a worker thread,
while Beam hands the DoFn the next batch's elements and takes the outputs of the batch before.
Outputs are emitted from the DoFn's own thread, in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindows

from ..core.ahead import Ahead
from ..core.blocks import Block

__all__ = ["Buffered"]


class Buffered:
    """Holds elements until they weigh ``batch_limit()`` rows, then computes them as a batch.

    Subclasses give :meth:`batch_limit` and :meth:`element_rows`; the next class in the method
    resolution order has ``compute(batch)`` (run on the worker thread) and ``outputs(computed)``
    (the outputs to emit, in the DoFn's thread).
    """

    def batch_limit(self) -> int:
        """The rows of one batch."""
        raise NotImplementedError

    def element_rows(self, element: Any) -> int:
        """The rows ``element`` weighs (a block its rows, anything else one)."""
        raise NotImplementedError

    def start_bundle(self) -> None:
        self._pending: list[Any] = []
        self._pending_rows = 0
        self._limit = self.batch_limit()
        self._ahead: Ahead[list[Any], Any] = Ahead(self.compute)  # type: ignore[attr-defined]

    def process(self, element: Any) -> Any:
        self._pending.append(element)
        kind = type(element)
        if kind is Block or kind is tuple:  # anything else weighs one row
            self._pending_rows += self.element_rows(element)
        else:
            self._pending_rows += 1
        if self._pending_rows < self._limit:
            return ()  # nothing yet ("return None" makes Beam warn once per DoFn)
        batch, self._pending, self._pending_rows = self._pending, [], 0
        computed = self._ahead.push(batch)
        return self.outputs(computed[0]) if computed else ()  # type: ignore[attr-defined]

    def finish_bundle(self) -> Iterator[Any]:
        try:
            computed = self._ahead.drain()
            if self._pending:
                batch, self._pending, self._pending_rows = self._pending, [], 0
                computed.append(self.compute(batch))  # type: ignore[attr-defined]
        finally:
            self._ahead.close()
        for done in computed:
            for output in self.outputs(done):  # type: ignore[attr-defined]
                if isinstance(output, TaggedOutput):
                    yield TaggedOutput(output.tag, GlobalWindows.windowed_value(output.value))
                else:
                    yield GlobalWindows.windowed_value(output)
