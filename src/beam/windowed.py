"""Batching inside the DoFn that keeps each element's own timestamp, windows and pane.

Beam's ``BatchElements`` stamps every batch with the end of its window, so whatever runs on the
batch loses its elements' timestamps (Beam issue #22853). :class:`WindowedBuffered` instead holds
each element with its ``WindowedValue`` and gives every output the timestamp, windows and pane
of the element it came from, whichever windows (fixed, sliding, sessions) and whichever output
(results and failures alike). Elements of different windows share a batch: the model does not
care, and each output goes back to its own windows.

An element is held until its batch is full, until the bundle ends (``finish_bundle`` runs what
is left), or until it has waited ``max_delay_s`` when the next element arrives, whichever comes
first: a DoFn can only emit while it runs, so the bundle's end bounds the wait when no element
follows (streaming runners end bundles within about a second).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput
from apache_beam.utils.windowed_value import WindowedValue

__all__ = ["WindowedBuffered"]

Clock = Callable[[], float]


class _Windows(tuple):  # type: ignore[type-arg]
    """An output's windows, immune to Beam's ``windows *= len(input windows)``.

    When ``process`` emits a ``WindowedValue`` while the element it was called with lies in
    several windows (sliding windows), Beam multiplies the output's windows by that count,
    which is right for the element's own outputs and duplicates a held element's. Held outputs
    carry their windows in this tuple, which multiplication leaves as it is.
    """

    __slots__ = ()

    def __mul__(self, times: Any) -> _Windows:
        return self

    __rmul__ = __imul__ = __mul__

    def __reduce__(self) -> tuple[Any, ...]:  # travels as a plain tuple
        return (tuple, (tuple(self),))


class WindowedBuffered:
    """Holds elements with their windowing until a batch weighs ``batch_limit()`` rows.

    Subclasses give :meth:`batch_limit`, :meth:`element_rows` and :meth:`max_delay`; the next
    class in the method resolution order has ``outputs_per_element(batch)``: the outputs of a
    batch, one list per element, in order.
    ``clock`` (seconds, monotonic) is a seam for tests.
    """

    clock: Clock = staticmethod(time.monotonic)

    def batch_limit(self) -> int:
        """The rows of one batch."""
        raise NotImplementedError

    def element_rows(self, element: Any) -> int:
        """The rows ``element`` weighs (a block its rows, anything else one)."""
        raise NotImplementedError

    def max_delay(self) -> float | None:
        """The longest an element waits for its batch to fill (``None``: until the bundle ends)."""
        raise NotImplementedError

    def start_bundle(self) -> None:
        self._held: list[WindowedValue] = []
        self._held_rows = 0
        self._since = 0.0
        self._limit = self.batch_limit()
        self._delay = self.max_delay()

    def process(self, element: Any, windowed: Any = beam.DoFn.WindowedValueParam) -> Any:
        if not self._held:
            self._since = self.clock()
        self._held.append(windowed)
        self._held_rows += self.element_rows(element)
        if self._held_rows >= self._limit or (
            self._delay is not None and self.clock() - self._since >= self._delay
        ):
            return self._flush()
        return ()  # nothing yet ("return None" makes Beam warn once per DoFn)

    def finish_bundle(self) -> list[Any]:
        return self._flush() if self._held else []

    def _flush(self) -> list[Any]:
        held, self._held, self._held_rows = self._held, [], 0
        grouped = super().outputs_per_element(  # type: ignore[misc]
            [windowed.value for windowed in held]
        )
        return [
            output
            for windowed, outputs in zip(held, grouped, strict=True)
            for output in _windowed(outputs, windowed)
        ]


def _windowed(outputs: Sequence[Any], source: WindowedValue) -> Iterator[Any]:
    """``outputs`` with the timestamp, windows and pane of the element they came from."""
    windows = _Windows(source.windows)
    for output in outputs:
        if isinstance(output, TaggedOutput):
            value = WindowedValue(output.value, source.timestamp, windows, source.pane_info)
            yield TaggedOutput(output.tag, value)
        else:
            yield WindowedValue(output, source.timestamp, windows, source.pane_info)
