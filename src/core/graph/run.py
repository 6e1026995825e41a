"""Running a graph in this process: chunks of elements through every step, results in order."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..execute import BatchRunner, Item, to_item
from ..metrics import RunStats
from ..results import Failure
from ..sharing import SHARED_MODELS, ModelBox
from .nodes import ModelNode
from .stages import Step
from .state import INPUT, GraphResult, Lineage, Record

if TYPE_CHECKING:
    from .graph import Graph

Clock = Callable[[], float]


@dataclass
class GraphStats:
    """In-process metrics of graph runs: per-node counters and distributions, and results.

    Attributes:
        nodes: Node name -> its metrics (``elements``, ``failures``, ``skipped``,
            ``node_latency_us``, and for model nodes the handler metrics: ``inferences``,
            ``model_calls``, ``batch_size``, ``batch_latency_us``, ``load_time_ms``).
        results: Result status (``ok``, ``partial``, ``failed``, ``skipped``) -> elements.
    """

    nodes: dict[str, RunStats] = field(default_factory=dict)
    results: Counter[str] = field(default_factory=Counter)

    def node(self, name: str) -> RunStats:
        """The metrics of node ``name`` (created on first use)."""
        stats = self.nodes.get(name)
        if stats is None:
            stats = self.nodes[name] = RunStats()
        return stats


def run_graph(
    graph: Graph,
    data: Iterable[Any],
    *,
    keyed: bool | None = None,
    metrics: GraphStats | None = None,
    chunk_size: int | None = None,
    clock: Clock = time.monotonic,
) -> Iterator[GraphResult]:
    """Validate ``graph``, load its models, and return an iterator of its results on ``data``."""
    steps = graph.validate()
    outputs = graph.output_names
    stats = metrics if metrics is not None else GraphStats()
    boxes: list[ModelBox] = []
    runners: dict[str, BatchRunner] = {}
    for step in steps:
        if isinstance(step.node, ModelNode):
            handler = step.node.handler
            sink = stats.node(step.name)
            box = SHARED_MODELS.acquire(handler, sink)
            boxes.append(box)  # held for the run: the shared model stays loaded
            runners[step.name] = BatchRunner(handler, box.model, sink)
    limits = [r.handler.config.batch_size_limit for r in runners.values()]
    size = chunk_size or max(limits, default=256)
    waits = [r.handler.config.max_batch_duration_s for r in runners.values()]
    wait = min((w for w in waits if w is not None), default=None)

    def results() -> Iterator[GraphResult]:
        _ = boxes
        for chunk in _chunks(data, size, wait, clock):
            records = [to_record(element, keyed) for element in chunk]
            for step in steps:
                step.apply(records, stats.node(step.name), runners.get(step.name))
            for record in records:
                result = finish(record, outputs)
                stats.results[result.status] += 1
                yield result

    return results()


def to_record(element: Any, keyed: bool | None) -> Record:
    """An input element as a record (an unreadable one as a record failed at the input).

    A :class:`~infergraph.Failure` element (a reader's, for a line it could not read) stands for
    an element that failed before the graph: it comes out as a failed result.
    """
    if isinstance(element, Failure):
        return Record.failed(element)
    entry = to_item(element, keyed, INPUT)
    if isinstance(entry, Item):
        return Record(entry.key, entry.example)
    return Record.failed(entry)


def finish(record: Record, outputs: Sequence[str]) -> GraphResult:
    """The result of a record that went through every step."""
    values: dict[str, Any] = {}
    failures = {}
    skipped = []
    for name in outputs:
        if name in record.values:
            values[name] = record.values[name]
        elif name in record.failures:
            failures[name] = record.failures[name]
        else:
            skipped.append(name)
    return GraphResult(
        record.key,
        record.example,
        values,
        failures,
        tuple(skipped),
        Lineage(tuple(record.path), dict(record.routes)),
    )


def _chunks(
    data: Iterable[Any], size: int, wait: float | None, clock: Clock
) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    started = clock()
    for element in data:
        if not chunk:
            started = clock()
        chunk.append(element)
        if len(chunk) >= size or (wait is not None and clock() - started >= wait):
            yield chunk
            chunk = []
    if chunk:
        yield chunk


__all__ = ["GraphStats", "Step", "finish", "run_graph", "to_record"]
