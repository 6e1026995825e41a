"""``RunInference``: a handler as an Apache Beam PTransform.

Each element is an example, a ``(key, example)`` pair or a :class:`~infergraph.Block`; the
transform reads it with the same core functions as the in-process path (``to_item``,
``BatchRunner.process_batch``), so both paths give identical results.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.pvalue import PCollection, TaggedOutput
from apache_beam.transforms.util import BatchElements
from apache_beam.transforms.window import GlobalWindows
from apache_beam.utils import shared

from ..core.blocks import Block
from ..core.errors import InferenceFailedError
from ..core.execute import AnyHandler, BatchRunner
from ..core.items import to_items
from ..core.metrics import RunStats
from ..core.results import Failure, Result
from ..core.sharing import ModelBox, load_model
from .buffered import Buffered
from .metrics import BeamMetrics

PREDICTIONS = "predictions"
FAILURES = "failures"


class RunInference(beam.PTransform):  # type: ignore[type-arg]
    """Run a handler over a PCollection of examples, ``(key, example)`` pairs or blocks.

    Example:
        >>> predictions = examples | ig.RunInference(handler)                 # doctest: +SKIP
        >>> predictions, failures = (
        ...     examples | ig.RunInference(handler).with_exception_handling()  # doctest: +SKIP
        ... )

    Without :meth:`with_exception_handling`, the first element that fails stops the pipeline
    with :class:`~infergraph.InferenceFailedError` (nothing is dropped silently).

    Args:
        handler: The handler; it is pickled to the workers and loaded once per process.
        keyed: ``None`` treats 2-tuples as ``(key, example)``; ``True`` requires pairs;
            ``False`` takes every element as the example.
    """

    def __init__(
        self, handler: AnyHandler, *, keyed: bool | None = None, label: str | None = None
    ) -> None:
        super().__init__(label or f"RunInference[{handler.model_id}]")
        self.handler = handler
        self.keyed = keyed
        self._route_failures = False

    def with_exception_handling(self) -> RunInference:
        """Return failures as a second output: the transform yields ``(predictions, failures)``."""
        routed = RunInference(self.handler, keyed=self.keyed, label=self.label)
        routed._route_failures = True
        return routed

    def expand(self, pcoll: PCollection[Any]) -> Any:
        if bounded_global_window(pcoll):
            # One DoFn batches and runs: no per-element hop through BatchElements.
            infer = _InferEachDoFn(self.handler, self.keyed)
            results = pcoll | "Infer" >> beam.ParDo(infer).with_outputs(FAILURES, main=PREDICTIONS)
        else:
            results = (
                pcoll
                | "Batch" >> BatchElements(**_batching(self.handler, pcoll))
                | "Infer"
                >> beam.ParDo(_InferDoFn(self.handler, self.keyed)).with_outputs(
                    FAILURES, main=PREDICTIONS
                )
            )
        if self._route_failures:
            return results[PREDICTIONS], results[FAILURES]
        _ = results[FAILURES] | "RaiseOnFailure" >> beam.Map(_raise)
        return results[PREDICTIONS]


def _streaming(pcoll: PCollection[Any]) -> bool:
    return bool(pcoll.pipeline.options.view_as(StandardOptions).streaming)


def bounded_global_window(pcoll: PCollection[Any]) -> bool:
    """A bounded pipeline in the global window: batches may simply span a bundle."""
    windowing = getattr(pcoll, "windowing", None)
    global_window = isinstance(getattr(windowing, "windowfn", None), GlobalWindows)
    return global_window and not _streaming(pcoll)


def _batching(handler: AnyHandler, pcoll: PCollection[Any]) -> dict[str, Any]:
    config = handler.config
    batching: dict[str, Any] = {
        "min_batch_size": config.min_batch_size,
        "max_batch_size": config.batch_size_limit,
        "element_size_fn": _rows,
    }
    if config.max_batch_duration_s is not None and _streaming(pcoll):
        # Only streaming pipelines wait for batches to fill; bounded bundles flush anyway.
        # (Stateful batching in a batch pipeline also trips a DirectRunner assertion.)
        batching["max_batch_duration_secs"] = config.max_batch_duration_s
    return batching


def _rows(element: Any) -> int:
    # Batch weight: a block counts its rows, so a big block is batched alone. (Runs once per
    # element: exact type checks are the cheapest.)
    if type(element) is tuple and len(element) == 2:
        element = element[1]
    return int(element.rows) if type(element) is Block else 1


def _raise(failure: Failure) -> None:
    raise InferenceFailedError(
        f"element with key={failure.key!r} failed in stage {failure.stage!r}: "
        f"{failure.error_type}: {failure.message}. To keep the pipeline running and collect "
        "failures, use RunInference(...).with_exception_handling()"
    )


class _InferDoFn(beam.DoFn):
    """Loads the model once per process (Beam's shared handle) and runs batches through it."""

    def __init__(self, handler: AnyHandler, keyed: bool | None) -> None:
        self.handler = handler
        self.keyed = keyed
        self._shared = shared.Shared()
        self._runner: BatchRunner | None = None
        self._load_stats: RunStats | None = None

    def setup(self) -> None:
        self._load_stats = RunStats()
        stats = self._load_stats

        def load() -> ModelBox:
            return load_model(self.handler, stats)

        box = self._shared.acquire(load, tag=self.handler.cache_key())
        self._runner = BatchRunner(self.handler, box.model, BeamMetrics(self.handler.model_id))
        self._box = box  # holds the shared model for this DoFn instance's lifetime

    def process(self, batch: list[Any]) -> list[Result | TaggedOutput[Any, Any]]:
        runner = self._runner
        assert runner is not None, "setup() runs before process()"
        self._report_load(runner)
        items, unread = to_items(batch, self.keyed, runner.node)
        out: list[Any] = [TaggedOutput(FAILURES, failure) for failure in unread]
        if unread:
            runner.metrics.counter("failures", len(unread))
        # One list, not a generator: no Python frame to resume per element.
        out += [
            TaggedOutput(FAILURES, result) if type(result) is Failure else result
            for result in runner.process_batch(items)
        ]
        return out

    def _report_load(self, runner: BatchRunner) -> None:
        # Metrics updated in setup() have no step to count against; report them here, once.
        stats, self._load_stats = self._load_stats, None
        if stats is None:
            return
        for name, value in stats.counters.items():
            runner.metrics.counter(name, value)
        for name, dist in stats.distributions.items():
            if dist.max is not None:
                runner.metrics.distribution(name, dist.max)


class _InferEachDoFn(Buffered, _InferDoFn):
    """Takes elements one by one, runs them in batches of ``max_batch_size`` (block rows
    counted), and the rest of a bundle when it ends: batching and inference in one step."""

    def batch_limit(self) -> int:
        return int(self.handler.config.batch_size_limit)

    element_rows = staticmethod(_rows)  # no wrapper call per element
