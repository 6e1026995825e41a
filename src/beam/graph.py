"""``RunGraph``: a graph as an Apache Beam PTransform, with the in-process path's semantics.

The whole graph runs as one fused step: one ``ParDo`` gathers elements into batches and applies
every :class:`~infergraph.graph.stages.Step` to them, the same code the in-process path
runs. In streaming or windowed pipelines each output keeps its own element's timestamp, windows
and pane (see :mod:`.windowed`), which Beam's ``BatchElements`` would replace with the end of
the window. Each model is still called at its own batch size (its runner slices what it gets), and
nothing is re-batched between models. The step emits one :class:`~infergraph.GraphResult` per
element (a :class:`~infergraph.graph.block_state.BlockResult` per block).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.pvalue import PCollection, TaggedOutput
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils import shared

from ..core.blocks import Block
from ..core.errors import InferenceFailedError
from ..core.execute import BatchRunner
from ..core.metrics import RunStats
from ..core.refresh import InUse, ModelUpdate, Refresher, swap_ready, versions_of
from ..core.results import Failure
from ..core.sharing import ModelBox, load_model
from ..graph.block_state import BlockResult
from ..graph.graph import Graph
from ..graph.nodes import ModelNode
from ..graph.run import Finish, to_records
from ..graph.single import each_prediction, node_results
from ..graph.stages import Step
from .buffered import Buffered
from .metrics import BeamMetrics, DeferredMetrics
from .refresh import WatchModels, shared_refresher, with_updates
from .windowed import WindowedBuffered

RESULTS = PREDICTIONS = "predictions"
"""The main output's tag."""
FAILURES = "failures"
"""The failures output's tag (``with_exception_handling``)."""
LEADING_BATCH = 256
"""Elements batched together in a graph without model nodes."""


class RunGraph(beam.PTransform):  # type: ignore[type-arg]
    """Run a graph over a PCollection of examples, ``(key, example)`` pairs or blocks.

    Example:
        >>> results = examples | ig.RunGraph(graph)                            # doctest: +SKIP
        >>> results, failures = examples | ig.RunGraph(graph).with_exception_handling()
        ... # doctest: +SKIP

    Each element gives one :class:`~infergraph.GraphResult`. With
    :meth:`with_exception_handling`, an element whose every output failed comes out on the
    second output as one :class:`~infergraph.Failure` (its first failure along the path, with
    the graph's input as the example); the others, partial results included, on the first.
    Without it, such an element stops the pipeline with :class:`~infergraph.InferenceFailedError`.

    Metrics are Beam metrics: per node in the namespace ``infergraph.<graph>.<node>``, and the
    results by status (``ok``, ``partial``, ``failed``, ``skipped``) in ``infergraph.<graph>``.

    In a bounded pipeline in the global window, each batch runs through the steps on a worker
    thread while the DoFn takes the next batch's elements (see :mod:`infergraph.core.ahead`);
    Beam metrics are still reported from the DoFn's thread. In streaming and windowed pipelines
    every output, failures included, has its element's own timestamp, windows and pane. An
    element waits for its batch at most until the bundle ends or, when the next element comes,
    ``max_delay_s``.

    Args:
        graph: The graph; it is validated now, before the pipeline is built.
        keyed: ``None`` treats 2-tuples as ``(key, example)``; ``True`` requires pairs;
            ``False`` takes every element as the example.
        max_delay_s: The longest an element waits for its batch to fill in a streaming or
            windowed pipeline (default: the models' shortest ``max_batch_duration_s``, else
            until the bundle ends).
        model_updates: A PCollection of :class:`~infergraph.ModelUpdate` (for example from
            :class:`~infergraph.WatchModels`): each new model loads in the background and is
            swapped in between two batches; what came before an update is run by the model
            in use. A model that fails to load is a warning and the counter
            ``model_refresh_failures``, and the old one stays. Each result's lineage names
            the model versions that answered it (``lineage.models``). See
            :mod:`infergraph.beam.refresh`. By default, in streaming pipelines, the graph's
            watches (:meth:`Graph.watch`, a spec's ``watch``) through :class:`WatchModels`.
    """

    def __init__(
        self,
        graph: Graph,
        *,
        keyed: bool | None = None,
        label: str | None = None,
        handler_view: bool = False,
        max_delay_s: float | None = None,
        model_updates: PCollection[ModelUpdate] | None = None,
    ) -> None:
        super().__init__(label or f"RunGraph[{graph.name}]")
        graph.validate()  # before any pipeline is built
        self.graph = graph
        self.keyed = keyed
        self.handler_view = handler_view
        self.max_delay_s = max_delay_s
        self.model_updates = model_updates
        self._route_failures = False

    def with_exception_handling(self) -> RunGraph:
        """Failed elements as a second output: the transform gives ``(results, failures)``."""
        routed = RunGraph(
            self.graph,
            keyed=self.keyed,
            label=self.label,
            handler_view=self.handler_view,
            max_delay_s=self.max_delay_s,
            model_updates=self.model_updates,
        )
        routed._route_failures = True
        return routed

    def expand(self, pcoll: PCollection[Any]) -> Any:
        segment = Segment(tuple(self.graph.validate()))
        single = self.graph.output_names[0] if self.handler_view else None
        context = _Context(self.graph.name, self.keyed, Finish.of(self.graph), single)
        tagged = not _on_dask(pcoll)
        delay = self.max_delay_s if self.max_delay_s is not None else segment.max_wait_s()
        updates = self.model_updates
        if updates is None and self.graph.watches and _streaming(pcoll):
            watch = WatchModels(self.graph.watches, interval_s=self.graph.watch_interval_s)
            updates = pcoll.pipeline | "WatchModels" >> watch
        if updates is not None:  # models swapped in as updates come
            pcoll = with_updates(pcoll, updates)
            run = beam.ParDo(_SegmentRefreshDoFn(segment, context, tagged, delay))
        elif bounded_global_window(pcoll):  # batches may span the elements' windowing
            run = beam.ParDo(_SegmentEachDoFn(segment, context, tagged))
        else:  # each output keeps its element's timestamp, windows and pane
            run = beam.ParDo(_SegmentWindowedDoFn(segment, context, tagged, delay))
        current = pcoll
        current = current | "Run" >> (run.with_outputs(FAILURES, main=RESULTS) if tagged else run)
        if tagged:
            results, failures = current[RESULTS], current[FAILURES]
        else:  # the Dask runner mixes up tagged outputs: one output, told apart by type
            results = current | "Results" >> beam.Filter(_is_result)
            failures = current | "Failures" >> beam.Filter(_is_failure)
        if self._route_failures:
            return results, failures
        _ = failures | "RaiseOnFailure" >> beam.Map(
            _raise_handler if self.handler_view else _raise
        )
        return results


@dataclass(frozen=True)
class Segment:
    """The steps one DoFn applies (every step of the graph), and their models."""

    steps: tuple[Step, ...]

    @property
    def models(self) -> tuple[ModelNode, ...]:
        """The model nodes of the steps."""
        return tuple(step.node for step in self.steps if isinstance(step.node, ModelNode))

    def batch_limit(self) -> int:
        """Rows per batch: the largest of the models' batch sizes (each model's runner cuts
        its calls to its own), or a fixed number without models."""
        limits = [node.handler.config.batch_size_limit for node in self.models]
        return max(limits, default=LEADING_BATCH)

    def max_wait_s(self) -> float | None:
        """The shortest ``max_batch_duration_s`` of the models, if any sets one."""
        waits = [node.handler.config.max_batch_duration_s for node in self.models]
        return min((wait for wait in waits if wait is not None), default=None)


@dataclass(frozen=True)
class _Context:
    """What every DoFn of a graph knows: its name, how to read elements, how results end.

    ``single``: the node of a one-node graph that runs as its handler (``RunInference``): its
    results are the handler's predictions and failures, its metrics under the model id.
    """

    graph: str
    keyed: bool | None
    finish: Finish
    single: str | None = None


def _rows(element: Any) -> int:
    if isinstance(element, tuple) and len(element) == 2:
        element = element[1]
    return element.rows if isinstance(element, Block) else 1


def namespace(graph: str, node: str | None = None) -> str:
    """The Beam metrics namespace of a graph (``node=None``) or of one of its nodes."""
    return f"infergraph.{graph}" if node is None else f"infergraph.{graph}.{node}"


class _SegmentDoFn(beam.DoFn):
    """Applies every step to a batch of elements (loading each model once per process)."""

    def __init__(self, segment: Segment, context: _Context, tagged: bool = True) -> None:
        self.segment = segment
        self.context = context
        self.tagged = tagged
        self._shared = {node.name: shared.Shared() for node in segment.models}

    def setup(self) -> None:
        graph, single = self.context.graph, self.context.single
        # BeamMetrics(id) reports under "infergraph.<id>": see namespace().
        self._sinks = {
            step.name: DeferredMetrics(BeamMetrics(single or f"{graph}.{step.name}"))
            for step in self.segment.steps
        }
        self._results = DeferredMetrics(BeamMetrics(graph))
        self._runners: dict[str, BatchRunner] = {}
        self._load_stats: dict[str, RunStats] = {}
        self._boxes: list[ModelBox] = []
        for node in self.segment.models:
            self._runners[node.name] = self._load(node)
        self._refresher: Refresher | None = None
        self._in_use = InUse({})

    def _load(self, node: ModelNode) -> BatchRunner:
        handler = node.handler
        stats = self._load_stats[node.name] = RunStats()

        def load() -> ModelBox:
            return load_model(handler, stats)

        box = self._shared[node.name].acquire(load, tag=handler.cache_key())
        self._boxes.append(box)  # held while the DoFn lives: the shared model stays loaded
        return BatchRunner(handler, box.model, self._sinks[node.name])

    def compute(self, batch: list[Any]) -> list[tuple[Iterable[Any], bool]]:
        """Applies every step to ``batch``: for each of its records, its outputs and whether
        its rows are elements. Runs on the worker thread of :class:`~infergraph.core.ahead.Ahead`
        where the DoFn overlaps batches: its metrics wait in deferred sinks until
        :meth:`report_metrics`, from the DoFn's thread (Beam counts metrics only there)."""
        records = to_records(batch, self.context.keyed)
        if self._refresher is not None:
            self._swap(self._refresher)
        for step in self.segment.steps:
            step.apply(records, self._sinks[step.name], self._runners.get(step.name))
        finish, versions = self.context.finish, self._in_use.versions
        computed: list[tuple[Iterable[Any], bool]] = []
        statuses: Counter[str] = Counter()
        for record in records:
            result = finish.result(record)
            result.versions = versions
            if self.context.single is not None:
                computed.append((self._as_handler(result, self.context.single), record.from_rows))
                continue
            statuses.update(result.status_counts())
            if not result.from_rows:
                kept, failures = result.split(finish.order)
                outputs: list[Any] = [] if kept is None else [kept]
                computed.append((outputs + [self._failed(f) for f in failures], False))
                continue
            rows = result.each_row_result(finish.order)
            if result.all_valid():  # none failed: made as Beam reads them
                computed.append((rows, True))
                continue
            each = [self._failed(r.to_failure()) if r.status == "failed" else r for r in rows]
            computed.append((each, True))
        for name, count in statuses.items():  # once per batch, not per element
            self._results.counter(name, count)
        return computed

    def outputs(self, computed: list[tuple[Iterable[Any], bool]]) -> Iterable[Any]:
        """Every output of what :meth:`compute` gave, in order (metrics reported)."""
        self.report_metrics()
        if len(computed) == 1:
            return computed[0][0]
        return chain.from_iterable(outputs for outputs, _ in computed)

    def outputs_per_element(self, batch: list[Any]) -> list[list[Any]]:
        """The outputs of ``batch``, one list per element, in order."""
        computed = self.compute(batch)
        self.report_metrics()
        grouped: list[list[Any]] = []
        for outputs, from_rows in computed:
            if from_rows:  # one output per row, each row an element
                grouped += [[output] for output in outputs]
            else:
                grouped.append(list(outputs))
        return grouped

    def _swap(self, refresher: Refresher) -> None:
        """Swap in the models that finished loading (runs that take model updates)."""

    def _as_handler(self, result: BlockResult, node: str) -> Iterable[Any]:
        """A one-node graph's result as its handler's predictions and failures (predictions
        made as Beam reads them, where every row got one: see ``each_prediction``)."""
        made = each_prediction(result, node)
        if made is not None:
            return made
        fixed = self._runners[node].fixed or 0
        return [
            self._failed(output) if type(output) is Failure else output
            for output in node_results(result, node, fixed)
        ]

    def _failed(self, failure: Failure) -> Any:
        return TaggedOutput(FAILURES, failure) if self.tagged else failure

    def report_metrics(self) -> None:
        """Report the metrics kept so far as Beam metrics (in the DoFn's thread)."""
        self._report_load()
        for sink in self._sinks.values():
            sink.report()
        self._results.report()

    def _report_load(self) -> None:
        stats, self._load_stats = self._load_stats, {}
        for name, loaded in stats.items():
            sink = self._sinks[name]
            for counter, value in loaded.counters.items():
                sink.counter(counter, value)
            for distribution, dist in loaded.distributions.items():
                if dist.max is not None:
                    sink.distribution(distribution, dist.max)


class _SegmentEachDoFn(Buffered, _SegmentDoFn):
    """Takes elements one by one and applies the steps to batches of the largest model batch
    size (block rows counted), the rest of a bundle when it ends: batching and every step in
    one DoFn (bounded pipelines in the global window)."""

    element_rows = staticmethod(_rows)  # no wrapper call per element

    def batch_limit(self) -> int:
        """Rows per batch (see :meth:`Segment.batch_limit`)."""
        return self.segment.batch_limit()


class _SegmentWindowedDoFn(WindowedBuffered, _SegmentDoFn):
    """Takes elements one by one with their windowing and applies the steps to batches, each
    output stamped with its own element's timestamp, windows and pane (see
    :mod:`.windowed`): streaming pipelines and windowed ones."""

    element_rows = staticmethod(_rows)

    def __init__(
        self, segment: Segment, context: _Context, tagged: bool, delay: float | None
    ) -> None:
        super().__init__(segment, context, tagged)
        self.delay = delay

    def batch_limit(self) -> int:
        """Rows per batch (see :meth:`Segment.batch_limit`)."""
        return self.segment.batch_limit()

    def max_delay(self) -> float | None:
        """How long an element may wait for its batch to fill."""
        return self.delay


class _SegmentRefreshDoFn(_SegmentWindowedDoFn):
    """A :class:`_SegmentWindowedDoFn` whose models follow the updates of a side input: each
    new model loads in the background and is swapped in between two batches (see
    :mod:`infergraph.core.refresh`)."""

    def __init__(
        self, segment: Segment, context: _Context, tagged: bool, delay: float | None
    ) -> None:
        super().__init__(segment, context, tagged, delay)
        self.token = uuid.uuid4().hex  # the step's: its DoFns in a process share a refresher

    def setup(self) -> None:
        super().setup()
        handlers = {name: runner.handler for name, runner in self._runners.items()}
        self._refresher, self._pending = shared_refresher(self.token, handlers)
        self._in_use = InUse(versions_of(handlers))

    def process(self, element: Any, windowed: Any = beam.DoFn.WindowedValueParam) -> Any:
        if type(element) is not ModelUpdate:
            return super().process(element, windowed)
        # What came before the update runs now, by the model in use; the new one loads.
        before = self._flush() if self._held else []
        assert self._refresher is not None
        self._refresher.offer([element])
        return before

    def finish_bundle(self) -> list[Any]:
        outputs = super().finish_bundle()
        self._report_refresh()
        self.report_metrics()
        return outputs

    def _swap(self, refresher: Refresher) -> None:
        swap_ready(refresher, self._runners, self._sinks, self._in_use)
        self._report_refresh()

    def _report_refresh(self) -> None:
        for name, pending in self._pending.items():
            pending.drain_into(self._sinks[name])


def bounded_global_window(pcoll: PCollection[Any]) -> bool:
    """A bounded pipeline in the global window: batches may simply span a bundle."""
    windowing = getattr(pcoll, "windowing", None)
    global_window = isinstance(getattr(windowing, "windowfn", None), GlobalWindows)
    return global_window and not _streaming(pcoll)


def _streaming(pcoll: PCollection[Any]) -> bool:
    return bool(pcoll.pipeline.options.view_as(StandardOptions).streaming)


def _on_dask(pcoll: PCollection[Any]) -> bool:
    runner = getattr(pcoll.pipeline, "runner", None)
    return any(cls.__name__ == "DaskRunner" for cls in type(runner).__mro__)


def _is_failure(element: Any) -> bool:
    return isinstance(element, Failure)


def _is_result(element: Any) -> bool:
    return not isinstance(element, Failure)


def _raise(failure: Failure) -> None:
    raise InferenceFailedError(
        f"element with key={failure.key!r} failed in node {failure.node!r}, stage "
        f"{failure.stage!r}: {failure.error_type}: {failure.message}. To keep the pipeline "
        "running and collect failures, use RunGraph(...).with_exception_handling()"
    )


def _raise_handler(failure: Failure) -> None:
    raise InferenceFailedError(
        f"element with key={failure.key!r} failed in stage {failure.stage!r}: "
        f"{failure.error_type}: {failure.message}. To keep the pipeline running and collect "
        "failures, use RunInference(...).with_exception_handling()"
    )
