"""infergraph metrics reported as Beam metrics, under the namespace ``infergraph.<model_id>``."""

from __future__ import annotations

from collections import deque
from typing import Any

from apache_beam.metrics.metric import Metrics


def namespace(model_id: str) -> str:
    """The Beam metrics namespace of a handler."""
    return f"infergraph.{model_id}"


class BeamMetrics:
    """A :class:`infergraph.core.metrics.MetricsSink` backed by Beam counters and distributions."""

    def __init__(self, model_id: str) -> None:
        self.namespace = namespace(model_id)
        self._counters: dict[str, Any] = {}
        self._distributions: dict[str, Any] = {}

    def counter(self, name: str, value: int = 1) -> None:
        """Add ``value`` to the Beam counter ``name``."""
        metric = self._counters.get(name)
        if metric is None:
            metric = self._counters[name] = Metrics.counter(self.namespace, name)
        metric.inc(value)

    def distribution(self, name: str, value: int) -> None:
        """Record ``value`` in the Beam distribution ``name``."""
        metric = self._distributions.get(name)
        if metric is None:
            metric = self._distributions[name] = Metrics.distribution(self.namespace, name)
        metric.update(value)


class DeferredMetrics:
    """A sink that keeps its updates until :meth:`report` gives them to ``target``.

    Beam counts a metric only in the thread that runs the DoFn; the steps of a batch may run
    on a worker thread (:mod:`infergraph.core.ahead`), so the DoFn reports what they kept from
    its own thread. Updates may be added while a report runs: each is reported once.
    """

    def __init__(self, target: BeamMetrics) -> None:
        self.target = target
        self._updates: deque[tuple[bool, str, int]] = deque()

    def counter(self, name: str, value: int = 1) -> None:
        """Keep ``value`` for the counter ``name``."""
        self._updates.append((True, name, value))

    def distribution(self, name: str, value: int) -> None:
        """Keep one observation of ``name``."""
        self._updates.append((False, name, value))

    def report(self) -> None:
        """Give every update kept so far to the target, in order."""
        updates, target = self._updates, self.target
        while updates:
            is_counter, name, value = updates.popleft()
            if is_counter:
                target.counter(name, value)
            else:
                target.distribution(name, value)
