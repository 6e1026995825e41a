"""Beam metrics of a run on a Dask cluster, gathered through the scheduler.

Beam's Dask runner (2.77) runs DoFns with no metrics container, so their counters go nowhere,
and its result's ``metrics()`` raises. Here each Dask task (one partition of one ``ParDo``) runs
its DoFn with a container of its own and, when it succeeds, sends what it counted to the
scheduler as an event of the run's topic (``Worker.log_event``); the launching process reads the
topic when the run ends.

The same work can run more than once: Beam's Dask runner computes the steps before a side input
again for each side input (a file sink has three), and Dask runs a task again when its worker
dies. Counts are therefore kept once per step and partition *content*: each task sends a digest
of its input elements, and tasks of one step with the same digest count once. A task that failed
sends nothing. The counts are those of the elements in the run's results, as Beam's committed
metrics are. (Two partitions of one step with exactly the same elements would count once: inputs
that carry keys, file names or line numbers never do.)
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from apache_beam.metrics.cells import DistributionData, DistributionResult
from apache_beam.metrics.execution import MetricKey, MetricResult, MetricsContainer
from apache_beam.metrics.metric import MetricResults
from apache_beam.metrics.metricbase import MetricName
from apache_beam.runners.worker import statesampler
from apache_beam.utils.counters import CounterFactory

TOPIC = "infergraph-metrics-"
"""The start of a run's event topic (its run id follows)."""


@contextmanager
def counting(step: str, topic: str | None, items: Sequence[Any]) -> Iterator[None]:
    """Run the body (``step`` on ``items``) with a metrics container; on success, send its
    counts to the scheduler under ``topic`` (nothing happens without a topic)."""
    if topic is None:
        yield
        return
    container = MetricsContainer(step)
    sampler = statesampler.StateSampler("dask", CounterFactory())
    previous = statesampler.get_current_tracker()
    statesampler.set_current_tracker(sampler)
    try:
        with sampler.scoped_state(step, "process", metrics_container=container):
            yield
    finally:
        statesampler.set_current_tracker(previous)
    _send(topic, step, _digest(items), container)


def _digest(items: Sequence[Any]) -> str:
    """A digest of ``items`` whatever their order."""
    hashes = sorted(hashlib.blake2b(_bytes(item), digest_size=16).digest() for item in items)
    return hashlib.blake2b(b"".join(hashes), digest_size=16).hexdigest()


def _bytes(item: Any) -> bytes:
    try:
        return pickle.dumps(item, protocol=5)
    except Exception:  # a value plain pickle refuses (a lambda in an element, say)
        import cloudpickle  # type: ignore[import-untyped]  # noqa: PLC0415 (only for what pickle refuses)

        return bytes(cloudpickle.dumps(item, protocol=5))


def _send(topic: str, step: str, digest: str, container: MetricsContainer) -> None:
    from distributed import get_worker  # noqa: PLC0415 (dask: optional)

    updates = container.get_cumulative()
    counters = [
        [key.metric.namespace, key.metric.name, value] for key, value in updates.counters.items()
    ]
    distributions = [
        [key.metric.namespace, key.metric.name, data.sum, data.count, data.min, data.max]
        for key, data in updates.distributions.items()
    ]
    if not counters and not distributions:
        return
    get_worker().log_event(
        topic,
        {"task": digest, "step": step, "counters": counters, "distributions": distributions},
    )


class CollectedMetrics(MetricResults):
    """The counters and distributions that a run's tasks sent, one set per task."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        # one set of counts per step and partition content (the last, for work run again)
        by_task = {(event["step"], event["task"]): event for event in events}
        self._counters: dict[MetricKey, int] = {}
        self._distributions: dict[MetricKey, DistributionData] = {}
        for event in by_task.values():
            for namespace, name, value in event["counters"]:
                key = MetricKey(event["step"], MetricName(namespace, name))
                self._counters[key] = self._counters.get(key, 0) + int(value)
            for namespace, name, total, count, low, high in event["distributions"]:
                key = MetricKey(event["step"], MetricName(namespace, name))
                data = DistributionData(total, count, low, high)
                known = self._distributions.get(key)
                self._distributions[key] = data if known is None else known.combine(data)

    def query(self, filter: Any = None) -> dict[str, list[Any]]:
        """The metrics that match ``filter`` (a :class:`MetricsFilter`), as Beam reports them."""
        counters = [
            MetricResult(key, value, value)
            for key, value in self._counters.items()
            if self.matches(filter, key)
        ]
        distributions = [
            MetricResult(key, DistributionResult(data), DistributionResult(data))
            for key, data in self._distributions.items()
            if self.matches(filter, key)
        ]
        return {
            self.COUNTERS: counters,
            self.DISTRIBUTIONS: distributions,
            self.GAUGES: [],
            self.STRINGSETS: [],
            self.BOUNDED_TRIES: [],
            self.HISTOGRAMS: [],
        }


def collected(client: Any, topic: str) -> CollectedMetrics:
    """The metrics the tasks of the run with ``topic`` sent to ``client``'s scheduler."""
    return CollectedMetrics([message for _, message in client.get_events(topic)])
