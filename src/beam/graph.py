"""``RunGraph``: a graph as an Apache Beam PTransform, with the in-process path's semantics.

The graph's steps are cut into segments, each a model step and the function, route, split and
merge steps after it; a segment is one ``BatchElements`` (sized by its model's policy) and one
``ParDo`` that applies the same :class:`~infergraph.core.graph.stages.Step` code the in-process
path runs. Records flow from segment to segment (no shuffle: a branch is joined by construction,
since every node of an element fills in the same record), and the last segment emits one
:class:`~infergraph.GraphResult` per element.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.pvalue import PCollection, TaggedOutput
from apache_beam.transforms.util import BatchElements
from apache_beam.utils import shared

from ..core.blocks import Block
from ..core.errors import InferenceFailedError
from ..core.execute import BatchRunner
from ..core.graph.block_state import BlockRecord, BlockResult
from ..core.graph.graph import Graph
from ..core.graph.nodes import ModelNode
from ..core.graph.run import Finish, to_records
from ..core.graph.stages import Step
from ..core.metrics import RunStats
from ..core.results import Failure
from ..core.sharing import ModelBox, load_model
from .buffered import Buffered
from .metrics import BeamMetrics
from .transform import FAILURES, PREDICTIONS, bounded_global_window

RESULTS = PREDICTIONS
LEADING_BATCH = 256
"""Records batched together for the steps before the first model step."""


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
    """

    def __init__(
        self, graph: Graph, *, keyed: bool | None = None, label: str | None = None
    ) -> None:
        super().__init__(label or f"RunGraph[{graph.name}]")
        graph.validate()  # before any pipeline is built
        self.graph = graph
        self.keyed = keyed
        self._route_failures = False

    def with_exception_handling(self) -> RunGraph:
        """Failed elements as a second output: the transform gives ``(results, failures)``."""
        routed = RunGraph(self.graph, keyed=self.keyed, label=self.label)
        routed._route_failures = True
        return routed

    def expand(self, pcoll: PCollection[Any]) -> Any:
        steps = self.graph.validate()
        segments = _segments(steps)
        context = _Context(self.graph.name, self.keyed, Finish.of(self.graph))
        tagged = not _on_dask(pcoll)
        current: Any = pcoll
        each = bounded_global_window(pcoll)
        for index, segment in enumerate(segments):
            first, last = index == 0, index == len(segments) - 1
            label = "+".join(step.name for step in segment.steps) or "input"
            if each:  # one DoFn batches and applies the steps: no hop through BatchElements
                run = beam.ParDo(_SegmentEachDoFn(segment, context, first, last, tagged))
            else:
                run = beam.ParDo(_SegmentDoFn(segment, context, first, last, tagged))
                current = current | f"Batch[{label}]" >> BatchElements(
                    **_batching(segment, current)
                )
            current = current | f"Run[{label}]" >> (
                run.with_outputs(FAILURES, main=RESULTS) if last and tagged else run
            )
        if tagged:
            results, failures = current[RESULTS], current[FAILURES]
        else:  # the Dask runner mixes up tagged outputs: one output, told apart by type
            results = current | "Results" >> beam.Filter(_is_result)
            failures = current | "Failures" >> beam.Filter(_is_failure)
        if self._route_failures:
            return results, failures
        _ = failures | "RaiseOnFailure" >> beam.Map(_raise)
        return results


@dataclass(frozen=True)
class Segment:
    """A model step (or none, for the steps before the first one) and the steps after it."""

    model: Step | None
    after: tuple[Step, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step of the segment, in order."""
        return ((self.model,) if self.model else ()) + self.after


@dataclass(frozen=True)
class _Context:
    graph: str
    keyed: bool | None
    finish: Finish


def _segments(steps: Sequence[Step]) -> list[Segment]:
    segments: list[Segment] = []
    model: Step | None = None
    after: list[Step] = []
    for step in steps:
        if step.is_model:
            if model is not None or after:
                segments.append(Segment(model, tuple(after)))
            model, after = step, []
        else:
            after.append(step)
    segments.append(Segment(model, tuple(after)))
    return segments


def _batching(segment: Segment, pcoll: PCollection[Any]) -> dict[str, Any]:
    if segment.model is None:
        return {"min_batch_size": 1, "max_batch_size": LEADING_BATCH}
    assert isinstance(segment.model.node, ModelNode)
    config = segment.model.node.handler.config
    batching: dict[str, Any] = {
        "min_batch_size": config.min_batch_size,
        "max_batch_size": config.batch_size_limit,
        "element_size_fn": _rows,
    }
    if config.max_batch_duration_s is not None and bool(
        pcoll.pipeline.options.view_as(StandardOptions).streaming
    ):
        batching["max_batch_duration_secs"] = config.max_batch_duration_s
    return batching


def _rows(element: Any) -> int:
    if isinstance(element, BlockRecord):
        return element.rows
    if isinstance(element, tuple) and len(element) == 2:
        element = element[1]
    return element.rows if isinstance(element, Block) else 1


def namespace(graph: str, node: str | None = None) -> str:
    """The Beam metrics namespace of a graph (``node=None``) or of one of its nodes."""
    return f"infergraph.{graph}" if node is None else f"infergraph.{graph}.{node}"


class _SegmentDoFn(beam.DoFn):
    """Applies a segment's steps to a batch of records (loading its model once per process)."""

    def __init__(
        self, segment: Segment, context: _Context, first: bool, last: bool, tagged: bool = True
    ) -> None:
        self.segment = segment
        self.context = context
        self.first = first
        self.last = last
        self.tagged = tagged
        self._shared = shared.Shared()

    def setup(self) -> None:
        graph = self.context.graph
        # BeamMetrics(id) reports under "infergraph.<id>": see namespace().
        self._sinks = {
            step.name: BeamMetrics(f"{graph}.{step.name}") for step in self.segment.steps
        }
        self._results = BeamMetrics(graph)
        self._runner: BatchRunner | None = None
        self._load_stats: RunStats | None = None
        step = self.segment.model
        if step is None:
            return
        assert isinstance(step.node, ModelNode)
        handler = step.node.handler
        stats = self._load_stats = RunStats()

        def load() -> ModelBox:
            return load_model(handler, stats)

        self._box = self._shared.acquire(load, tag=handler.cache_key())
        self._runner = BatchRunner(handler, self._box.model, self._sinks[step.name])

    def process(self, batch: list[Any]) -> list[Any]:
        records = to_records(batch, self.context.keyed) if self.first else batch
        self._report_load()
        for step in self.segment.steps:
            step.apply(records, self._sinks[step.name], self._runner if step.is_model else None)
        if not self.last:
            return records
        out: list[Any] = []
        statuses: Counter[str] = Counter()
        finish = self.context.finish
        for result in (result for record in records for result in finish.results(record)):
            if isinstance(result, BlockResult):
                statuses.update(result.status_counts())
                kept, failures = result.split(finish.order)
                if kept is not None:
                    out.append(kept)
                out += [self._failed(failure) for failure in failures]
                continue
            status = result.status
            statuses[status] += 1
            out.append(self._failed(result.to_failure()) if status == "failed" else result)
        for name, count in statuses.items():  # once per batch, not per element
            self._results.counter(name, count)
        return out

    def _failed(self, failure: Failure) -> Any:
        return TaggedOutput(FAILURES, failure) if self.tagged else failure

    def _report_load(self) -> None:
        stats, self._load_stats = self._load_stats, None
        if stats is None or self.segment.model is None:
            return
        sink = self._sinks[self.segment.model.name]
        for name, value in stats.counters.items():
            sink.counter(name, value)
        for name, dist in stats.distributions.items():
            if dist.max is not None:
                sink.distribution(name, dist.max)


class _SegmentEachDoFn(Buffered, _SegmentDoFn):
    """Takes records one by one and applies the segment to batches of the model's
    ``max_batch_size`` (block rows counted), the rest of a bundle when it ends: batching and
    the steps in one DoFn (bounded pipelines in the global window)."""

    element_rows = staticmethod(_rows)  # no wrapper call per element

    def batch_limit(self) -> int:
        """Rows per batch: the model's batch size (the leading steps': a fixed number)."""
        model = self.segment.model
        if model is None or not isinstance(model.node, ModelNode):
            return LEADING_BATCH
        return int(model.node.handler.config.batch_size_limit)


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
