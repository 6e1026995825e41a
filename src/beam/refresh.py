"""Model refresh on Beam: a stream of :class:`~infergraph.ModelUpdate` among the elements.

``RunGraph(graph, model_updates=updates)`` takes ``updates`` (any PCollection of
:class:`~infergraph.ModelUpdate`; :class:`WatchModels` makes one from glob patterns) into the
graph's step with the data, so that each update falls in order between the elements: what came
before it is run first, by the model in use, and the new model loads in the background and is
swapped in between two batches (see :mod:`infergraph.core.refresh`).

Not a side input, as Beam's ``model_metadata_pcoll`` is: a side input in the global window
holds back every element until the updates end on the DirectRunner (it waits for the side
input's watermark to pass the end of the global window), so a pipeline that follows an endless
watcher would never answer. An update reaches the worker that processes it; where a step runs
on many workers, each poll of :class:`WatchModels` gives every model's newest file again, so
the updates spread over the workers poll after poll, as elements do. Patterns are read with
Python's ``glob``: the files must be where the workers see them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
from apache_beam.pvalue import PBegin, PCollection
from apache_beam.transforms.periodicsequence import PeriodicImpulse

from ..core.metrics import MetricsSink
from ..core.refresh import DEFAULT_POLL_S, AnyHandler, ModelUpdate, Refresher, newest_models

__all__ = ["PendingMetrics", "WatchModels", "shared_refresher", "with_updates"]


class WatchModels(beam.PTransform):  # type: ignore[type-arg]
    """Model updates from glob patterns: every ``interval_s``, the newest file (or directory)
    each model node's pattern matches, as Beam's ``WatchFilePattern`` does, but: no file need
    exist at the start, a file written again under its old name is a new version (its
    modification time is part of the update), and the default interval is short.

    Example:
        >>> updates = pipeline | ig.WatchModels({"five": "/mnt/five-*.onnx"})  # doctest: +SKIP
        >>> results = examples | ig.RunGraph(graph, model_updates=updates)       # doctest: +SKIP

    Each poll emits the newest model of every pattern that matches (the graph ignores the
    ones it already has), so a worker that missed an update gets it again at a later poll.

    Args:
        patterns: Model node -> glob pattern of its model files.
        interval_s: Seconds between polls.
        start_s: When to start polling (Unix seconds; default: now).
        stop_s: When to stop (default: never; a stop makes the PCollection bounded).
    """

    def __init__(
        self,
        patterns: Mapping[str, str],
        *,
        interval_s: float = DEFAULT_POLL_S,
        start_s: float | None = None,
        stop_s: float | None = None,
    ) -> None:
        super().__init__()
        self.patterns = dict(patterns)
        self.interval_s = interval_s
        self.start_s = start_s
        self.stop_s = stop_s

    def expand(self, pbegin: PBegin) -> Any:
        impulse: dict[str, Any] = {"fire_interval": self.interval_s, "apply_windowing": False}
        impulse["start_timestamp"] = self.start_s if self.start_s is not None else time.time()
        if self.stop_s is not None:
            impulse["stop_timestamp"] = self.stop_s
        patterns = self.patterns
        return (
            pbegin
            | "Poll" >> PeriodicImpulse(**impulse)
            | "Newest" >> beam.FlatMap(lambda _: newest_models(patterns))
        )


def with_updates(pcoll: PCollection[Any], updates: PCollection[ModelUpdate]) -> Any:
    """``pcoll`` with ``updates`` among its elements, in its windowing: the graph's step sees
    each update in order with the data (see the module's docstring)."""
    windowed = updates | "UpdatesWindowed" >> beam.WindowInto(pcoll.windowing.windowfn)
    return (pcoll, windowed) | "WithUpdates" >> beam.Flatten()


class PendingMetrics:
    """Counters counted on any thread, reported later on the bundle's (Beam's metrics are
    counted only on the thread that runs the bundle)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._values: list[tuple[str, int]] = []

    def counter(self, name: str, value: int = 1) -> None:
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + value

    def distribution(self, name: str, value: int) -> None:
        with self._lock:
            self._values.append((name, value))

    def drain_into(self, sink: MetricsSink) -> None:
        """Report what was counted since the last call to ``sink``."""
        with self._lock:
            counts, self._counts = self._counts, {}
            values, self._values = self._values, []
        for name, count in counts.items():
            sink.counter(name, count)
        for name, value in values:
            sink.distribution(name, value)


_REFRESHERS: dict[str, tuple[Refresher, dict[str, PendingMetrics]]] = {}
_REFRESHERS_LOCK = threading.Lock()


def shared_refresher(
    token: str, handlers: Mapping[str, AnyHandler]
) -> tuple[Refresher, dict[str, PendingMetrics]]:
    """The refresher of one ``RunGraph`` step in this process (``token`` names the step), and
    its metrics: every DoFn of the step in the process shares it, so an update any of them
    sees reaches them all, and DoFns made later start from the newest models."""
    with _REFRESHERS_LOCK:
        found = _REFRESHERS.get(token)
        if found is None:
            pending = {name: PendingMetrics() for name in handlers}
            found = _REFRESHERS[token] = (Refresher(handlers, pending), pending)
        return found
