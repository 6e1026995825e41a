"""Running a graph in this process: chunks of elements through every step, results in order."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..blocks import Block
from ..execute import BatchRunner
from ..items import to_item
from ..metrics import RunStats
from ..results import Failure
from ..sharing import SHARED_MODELS, ModelBox
from .block_state import BlockRecord, BlockResult
from .nodes import ModelNode, RouteNode, SplitNode
from .stages import Step
from .state import INPUT, GraphResult

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
) -> Iterator[GraphResult | BlockResult]:
    """Validate ``graph``, load its models, and return an iterator of its results on ``data``.

    A block element gives one :class:`BlockResult` (every row's status in it); any other
    element one :class:`GraphResult`.
    """
    steps = graph.validate()
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

    done = Finish.of(graph)

    def results() -> Iterator[GraphResult | BlockResult]:
        _ = boxes
        for chunk in _chunks(data, size, wait, clock):
            records = to_records(chunk, keyed)
            for step in steps:
                step.apply(records, stats.node(step.name), runners.get(step.name))
            for record in records:
                for result in done.results(record):
                    count(stats, result)
                    yield result

    return results()


def to_records(elements: Sequence[Any], keyed: bool | None) -> list[BlockRecord]:
    """Input elements as block records, in order: each block element as its own, and each run
    of other elements (examples, pairs, a reader's failures) as one block of their rows.

    An element that cannot be read (a :class:`~infergraph.Failure`: a reader's, for a line it
    could not read, or a bare example where ``keyed=True`` wants pairs) is a row failed at the
    input: it comes out as a failed result.
    """
    records: list[BlockRecord] = []
    keys: list[Any] = []
    examples: list[Any] = []
    for element in elements:
        if type(element) is tuple and len(element) == 2 and keyed is not False:  # the common case
            key, example = element
        else:
            entry = element if isinstance(element, Failure) else to_item(element, keyed, INPUT)
            key, example = (entry.key, entry) if isinstance(entry, Failure) else entry
        if type(example) is Block:
            if examples:
                records.append(BlockRecord.of_rows(keys, examples))
                keys, examples = [], []
            records.append(BlockRecord(key, example))
            continue
        keys.append(key)
        examples.append(example)
    if examples:
        records.append(BlockRecord.of_rows(keys, examples))
    return records


@dataclass(frozen=True)
class Finish:
    """Turns a record that went through every step into its result.

    Attributes:
        outputs: The graph's output nodes.
        order: Every node, in the order the steps run (lineage order).
        targets: Route or split -> its targets (to name the arm a block row took).
    """

    outputs: tuple[str, ...]
    order: tuple[str, ...]
    targets: dict[str, tuple[str, ...]]

    @classmethod
    def of(cls, graph: Graph) -> Finish:
        """The finisher of ``graph``'s records."""
        steps = graph.validate()
        targets = {
            step.name: step.node.targets
            for step in steps
            if isinstance(step.node, RouteNode | SplitNode)
        }
        return cls(tuple(graph.output_names), tuple(s.name for s in steps), targets)

    def results(self, record: BlockRecord) -> Iterator[GraphResult | BlockResult]:
        """The results of a record that went through every step: a block's one
        :class:`BlockResult`; the rows of elements that came one at a time one
        :class:`GraphResult` each, a view of their block's result."""
        result = self._block(record)
        if not record.from_rows:
            yield result
            return
        for row in range(result.rows):
            yield result.row_result(row, self.order)

    def _block(self, record: BlockRecord) -> BlockResult:
        rows = record.rows
        empty = np.zeros(rows, dtype=bool)
        return BlockResult(
            record.key,
            record.block,
            {name: record.values[name] for name in self.outputs if name in record.values},
            {name: record.valid.get(name, empty) for name in self.outputs},
            {name: record.failures.get(name, {}) for name in self.outputs},
            dict(record.ran),
            dict(record.routes),
            {name: self.targets[name] for name in record.routes},
        )


def count(stats: GraphStats, result: GraphResult | BlockResult) -> None:
    """Add a result's statuses (a block's, row by row) to ``stats.results``."""
    if isinstance(result, BlockResult):
        stats.results.update(result.status_counts())
    else:
        stats.results[result.status] += 1


def _chunks(
    data: Iterable[Any], size: int, wait: float | None, clock: Clock
) -> Iterator[list[Any]]:
    """Elements in chunks of ``size`` rows (a block weighs its rows), so that what is held at
    once stays bounded whatever the elements."""
    chunk: list[Any] = []
    rows = 0
    started = clock()
    for element in data:
        if not chunk:
            started = clock()
        chunk.append(element)
        rows += _weight(element)
        if rows >= size or (wait is not None and clock() - started >= wait):
            yield chunk
            chunk, rows = [], 0
    if chunk:
        yield chunk


def _weight(element: Any) -> int:
    if type(element) is tuple and len(element) == 2:
        element = element[1]
    return int(element.rows) if isinstance(element, Block) else 1


__all__ = ["Finish", "GraphStats", "Step", "count", "run_graph", "to_records"]
