"""infergraph metrics reported as Beam metrics, under the namespace ``infergraph.<model_id>``."""

from __future__ import annotations

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
