"""Running a graph in this process: chunks of elements through every step, results in order."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from operator import itemgetter
from typing import Any

import numpy as np

from ..core.ahead import one_ahead
from ..core.blocks import Block
from ..core.execute import BatchRunner
from ..core.items import to_item
from ..core.metrics import MetricsSink, RunStats
from ..core.refresh import (
    InUse,
    ModelUpdate,
    Refresher,
    consume,
    swap_ready,
    versions_of,
    watch_models,
)
from ..core.results import Failure
from ..core.sharing import SHARED_MODELS, ModelBox
from .block_state import BlockRecord, BlockResult
from .nodes import ModelNode, RouteNode, SplitNode
from .stages import Compiled, Step
from .state import INPUT, GraphResult

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

    nodes: dict[str, MetricsSink] = field(default_factory=dict)
    results: Counter[str] = field(default_factory=Counter)

    def node(self, name: str) -> MetricsSink:
        """The metrics of node ``name`` (a :class:`RunStats`, created on first use)."""
        stats = self.nodes.get(name)
        if stats is None:
            stats = self.nodes[name] = RunStats()
        return stats


def run_graph(
    graph: Compiled,
    data: Iterable[Any],
    *,
    keyed: bool | None = None,
    metrics: GraphStats | None = None,
    chunk_size: int | None = None,
    clock: Clock = time.monotonic,
    model_updates: Iterable[ModelUpdate] | None = None,
) -> Iterator[GraphResult | BlockResult]:
    """Validate ``graph``, load its models, and return an iterator of its results on ``data``.

    A block element gives one :class:`BlockResult` (every row's status in it); any other
    element one :class:`GraphResult`. ``model_updates`` (by default, the graph's watches) are
    followed from a background thread (see :meth:`GraphRunner.follow`).
    """
    runner = GraphRunner(graph, metrics=metrics)
    stop = threading.Event()  # ends the graph's own watch when the run ends
    if model_updates is None and graph.watches:
        watch = graph.watches
        model_updates = watch_models(watch, interval_s=graph.watch_interval_s, stop=stop)
    if model_updates is not None:
        runner.follow(model_updates)
    size = chunk_size or runner.batch_limit()

    def work(chunk: list[Any]) -> list[BlockResult]:
        return runner.run_blocks(chunk, keyed=keyed)

    def results() -> Iterator[GraphResult | BlockResult]:
        try:  # each chunk runs on a worker thread while the next one is read (core.ahead)
            for blocks in one_ahead(work, chunks(data, size, runner.max_wait_s(), clock)):
                yield from runner.finish.each(blocks)
        finally:
            stop.set()

    return results()


class GraphRunner:
    """A graph with its models loaded, to run on one batch of elements at a time.

    ``models`` gives models loaded elsewhere (Beam's shared handle), by node name; the others
    are loaded here (once per process, see :data:`infergraph.model_cache`).

    What every entry point runs: ``graph.run`` (on chunks of its input), Beam's ``RunGraph``
    (on the batches of its DoFn) and a server (on the requests batched together). The models
    stay loaded while the runner lives.

    Raises:
        GraphError: the graph is invalid.
        ModelLoadError: a model could not be loaded.
    """

    def __init__(
        self,
        graph: Compiled,
        *,
        metrics: GraphStats | None = None,
        models: Mapping[str, Any] | None = None,
    ) -> None:
        self.steps = graph.validate()
        self.stats = metrics if metrics is not None else GraphStats()
        self.finish = Finish.of(graph)
        self.refresher: Refresher | None = None
        self._in_use = InUse({})
        self._boxes: list[ModelBox] = []
        self.runners: dict[str, BatchRunner] = {}
        loaded = models or {}
        for step in self.steps:
            if isinstance(step.node, ModelNode):
                handler = step.node.handler
                sink = self.stats.node(step.name)
                model = loaded[step.name] if step.name in loaded else self._acquire(handler, sink)
                self.runners[step.name] = BatchRunner(handler, model, sink)

    def _acquire(self, handler: Any, sink: MetricsSink) -> Any:
        box = SHARED_MODELS.acquire(handler, sink)
        self._boxes.append(box)  # held: the shared model stays loaded
        return box.model

    def follow(self, updates: Iterable[ModelUpdate]) -> None:
        """Take model updates from ``updates`` (read in a background thread, so it may be an
        endless stream): each new model loads in the background and is swapped in between
        two batches; results name the model versions that answered them in their lineage."""
        if self.refresher is None:
            handlers = {name: runner.handler for name, runner in self.runners.items()}
            sinks = {name: self.stats.node(name) for name in self.runners}
            self.refresher = Refresher(handlers, sinks)
            self._in_use = InUse(versions_of(handlers))
        consume(updates, self.refresher)

    def batch_limit(self) -> int:
        """Rows worth running at once: the largest model batch size (256 without models)."""
        limits = [r.handler.config.batch_size_limit for r in self.runners.values()]
        return max(limits, default=256)

    def max_wait_s(self) -> float | None:
        """The shortest ``max_batch_duration_s`` of the models, if any sets one."""
        waits = [r.handler.config.max_batch_duration_s for r in self.runners.values()]
        return min((w for w in waits if w is not None), default=None)

    def run(self, elements: Sequence[Any], *, keyed: bool | None = None) -> list[Any]:
        """The results of ``elements``, in order: a :class:`GraphResult` per element that is
        not a block, a :class:`BlockResult` per block (counted in ``stats.results``)."""
        return list(self.finish.each(self.run_blocks(elements, keyed=keyed)))

    def run_blocks(self, elements: Sequence[Any], *, keyed: bool | None = None) -> list[Any]:
        """The block results of ``elements``, in order: one per block element and one per run
        of other elements (``from_rows``: a row per element), counted in ``stats.results``."""
        if self.refresher is not None:  # between two batches: swap in what finished loading
            sinks = {name: self.stats.node(name) for name in self.runners}
            swap_ready(self.refresher, self.runners, sinks, self._in_use)
        records = to_records(elements, keyed)
        for step in self.steps:
            step.apply(records, self.stats.node(step.name), self.runners.get(step.name))
        results = [self.finish.result(record) for record in records]
        for result in results:
            result.versions = self._in_use.versions
            self.stats.results.update(result.status_counts())
        return results


def to_records(elements: Sequence[Any], keyed: bool | None) -> list[BlockRecord]:
    """Input elements as block records, in order: each block element as its own, and each run
    of other elements (examples, pairs, a reader's failures) as one block of their rows.

    An element that cannot be read (a :class:`~infergraph.Failure`: a reader's, for a line it
    could not read, or a bare example where ``keyed=True`` wants pairs) is a row failed at the
    input: it comes out as a failed result.
    """
    whole = _one_run(elements, keyed)
    if whole is not None:
        return [BlockRecord.of_rows(*whole)]
    records: list[BlockRecord] = []
    keys: list[Any] = []
    examples: list[Any] = []
    for element in elements:
        kind = type(element)
        if kind is tuple and len(element) == 2 and keyed is not False:  # the common cases
            key, example = element
        elif keyed is not True and kind is not Failure and not isinstance(element, tuple):
            key, example = None, element
        else:
            entry = element if kind is Failure else to_item(element, keyed, INPUT)
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
    def of(cls, graph: Compiled) -> Finish:
        """The finisher of ``graph``'s records."""
        steps = graph.validate()
        targets = {
            step.name: step.node.targets
            for step in steps
            if isinstance(step.node, RouteNode | SplitNode)
        }
        return cls(tuple(graph.output_names), tuple(s.name for s in steps), targets)

    def each(self, blocks: list[BlockResult]) -> Iterator[GraphResult | BlockResult]:
        """Block results as results per element: a block's its own, and a :class:`GraphResult`
        per row of elements that came one at a time (a view of their block's result), made
        as they are read."""
        for result in blocks:
            if result.from_rows:
                yield from result.each_row_result(self.order)
            else:
                yield result

    def result(self, record: BlockRecord) -> BlockResult:
        """The block result of a record that went through every step."""
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
            record.from_rows,
        )


def _one_run(elements: Sequence[Any], keyed: bool | None) -> tuple[Any, Any] | None:
    """The keys and examples of ``elements`` when they are one run of rows read as they are
    (every element a bare example, or every element a ``(key, example)`` pair, no block and no
    failure among them), found by type checks over the whole chunk at once; else ``None`` (the
    element by element reading of :func:`to_records` decides)."""
    if not elements:
        return None
    kinds = set(map(type, elements))
    if tuple not in kinds:
        if keyed is True or Block in kinds or Failure in kinds or _has_tuple(kinds):
            return None
        return [None] * len(elements), elements
    if len(kinds) > 1 or keyed is False or set(map(len, elements)) != {2}:
        return None
    keys, examples = zip(*elements, strict=True)
    if Block in set(map(type, examples)):
        return None
    return keys, examples


def _has_tuple(kinds: set[type]) -> bool:
    return any(issubclass(kind, tuple) for kind in kinds)


def chunks(
    data: Iterable[Any], size: int, wait: float | None, clock: Clock
) -> Iterator[list[Any]]:
    """Elements in chunks of ``size`` rows (a block weighs its rows), so that what is held at
    once stays bounded whatever the elements."""
    if wait is None:
        yield from _counted_chunks(iter(data), size)
        return
    chunk: list[Any] = []
    rows = 0
    started = clock()
    for element in data:
        if not chunk:
            started = clock()
        chunk.append(element)
        kind = type(element)
        if kind is Block or (kind is tuple and len(element) == 2 and type(element[1]) is Block):
            rows += _weight(element)
        else:
            rows += 1
        if rows >= size or (wait is not None and clock() - started >= wait):
            yield chunk
            chunk, rows = [], 0
    if chunk:
        yield chunk


def _counted_chunks(data: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """:func:`chunks` without a time limit. While the elements are rows (no block among them),
    ``size`` of them are taken at once; from the first block on, element by element (a block
    weighs its rows, and a chunk ends at the element that fills it)."""
    chunk: list[Any] = []
    probe = True  # the first element alone: a stream of blocks is never read ahead
    while True:
        wanted = 1 if probe else size - len(chunk)
        taken = list(islice(data, wanted))
        probe = False
        chunk += taken
        if _has_block(taken):
            break
        if len(taken) < wanted:  # the end of the data
            if chunk:
                yield chunk
            return
        if len(chunk) >= size:
            yield chunk
            chunk = []
    rows = 0
    pending, chunk = chunk, []
    for element in chain(pending, data):
        chunk.append(element)
        rows += _weight(element)
        if rows >= size:
            yield chunk
            chunk, rows = [], 0
    if chunk:
        yield chunk


def _has_block(elements: list[Any]) -> bool:
    kinds = set(map(type, elements))
    if Block in kinds:
        return True
    if kinds == {tuple} and set(map(len, elements)) == {2}:
        return Block in set(map(type, map(itemgetter(1), elements)))
    return tuple in kinds and any(
        type(e) is tuple and len(e) == 2 and type(e[1]) is Block for e in elements
    )


def _weight(element: Any) -> int:
    if type(element) is tuple and len(element) == 2:
        element = element[1]
    return int(element.rows) if isinstance(element, Block) else 1


__all__ = ["Finish", "GraphRunner", "GraphStats", "Step", "run_graph", "to_records"]
