"""Batching inside the DoFn that runs the batch: bounded pipelines in the global window.

A DoFn whose ``process`` takes a batch (a list of elements) gets :class:`Buffered` in front of it
in its bases: elements then arrive one by one, are held until they weigh ``batch_limit()`` rows
(a block weighs its rows), and go to the batch ``process`` together; the rest of a bundle goes
when the bundle ends. One step instead of ``BatchElements`` and a second one, and no per-element
work beyond appending to a list.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apache_beam.pvalue import TaggedOutput
from apache_beam.transforms.window import GlobalWindows

__all__ = ["Buffered"]


class Buffered:
    """Holds elements until they weigh ``batch_limit()`` rows, then processes them as a batch.

    Subclasses give :meth:`batch_limit` and :meth:`element_rows`; the next class in the method
    resolution order has the batch ``process``.
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

    def process(self, element: Any) -> Any:
        self._pending.append(element)
        self._pending_rows += self.element_rows(element)
        if self._pending_rows < self._limit:
            return ()  # nothing yet ("return None" makes Beam warn once per DoFn)
        batch, self._pending, self._pending_rows = self._pending, [], 0
        return super().process(batch)  # type: ignore[misc]

    def finish_bundle(self) -> Iterator[Any]:
        if not self._pending:
            return
        batch, self._pending, self._pending_rows = self._pending, [], 0
        for output in super().process(batch):  # type: ignore[misc]
            if isinstance(output, TaggedOutput):
                yield TaggedOutput(output.tag, GlobalWindows.windowed_value(output.value))
            else:
                yield GlobalWindows.windowed_value(output)
