"""Prometheus metrics of a served graph, in a registry of its own (one per app).

Request metrics are labelled by ``model`` (the graph's name) and ``protocol`` (``v1``, ``v2``);
``infergraph_batch_size`` observes the rows of each model call, by ``node``; the per-node counters
the offline paths keep (``elements``, ``failures``, ``inferences``, ``model_calls``, ...) are
exported as ``infergraph_node_<counter>_total{node}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from ..core.metrics import RunStats
from ..graph.run import GraphStats

_ROWS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)


class NodeStats(RunStats):
    """A node's in-process metrics that also observe each model call's rows in Prometheus."""

    def __init__(self, observe: Any) -> None:
        super().__init__()
        self._observe = observe

    def distribution(self, name: str, value: int) -> None:
        super().distribution(name, value)
        if name == "batch_size":
            self._observe(value)


class _NodeCounters(Collector):
    def __init__(self, stats: GraphStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily]:
        families: dict[str, CounterMetricFamily] = {}
        for node, sink in sorted(self.stats.nodes.items()):
            counters = dict(getattr(sink, "counters", {}))
            for name, value in sorted(counters.items()):
                family = families.get(name)
                if family is None:
                    family = families[name] = CounterMetricFamily(
                        f"infergraph_node_{name}", f"Per-node counter {name!r}.", labels=["node"]
                    )
                family.add_metric([node], value)
        yield from families.values()


class ServeMetrics:
    """The server's metrics and the graph stats its runners report to."""

    def __init__(self, model: str, nodes: list[str]) -> None:
        self.model = model
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter(
            "infergraph_requests",
            "Requests answered, by model, protocol and HTTP status.",
            ["model", "protocol", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "infergraph_request_duration_seconds",
            "Time from a request's arrival to its answer.",
            ["model", "protocol"],
            registry=registry,
        )
        self.queue_depth = Gauge(
            "infergraph_queue_depth", "Requests waiting for a batch.", ["model"], registry=registry
        )
        self.queue_wait = Histogram(
            "infergraph_queue_wait_seconds",
            "Time a request waited for its batch to start.",
            ["model"],
            registry=registry,
        )
        self.batch_size = Histogram(
            "infergraph_batch_size",
            "Rows per model call, by node.",
            ["node"],
            buckets=_ROWS,
            registry=registry,
        )
        self.graph_batch_size = Histogram(
            "infergraph_graph_batch_size",
            "Rows per batch of requests run through the graph.",
            ["model"],
            buckets=_ROWS,
            registry=registry,
        )
        self.stats = GraphStats()
        for node in nodes:
            self.stats.nodes[node] = NodeStats(self.batch_size.labels(node=node).observe)
        registry.register(_NodeCounters(self.stats))

        self._answered: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.depth = self.queue_depth.labels(model)
        self.wait = self.queue_wait.labels(model)

    def answered(self, protocol: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        children = self._answered.get((protocol, status))
        if children is None:  # labelled children looked up once, not per request
            children = self._answered[protocol, status] = (
                self.requests.labels(self.model, protocol, str(status)),
                self.duration.labels(self.model, protocol),
            )
        children[0].inc()
        children[1].observe(seconds)

    def text(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
