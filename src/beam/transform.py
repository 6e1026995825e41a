"""``RunInference``: a handler as an Apache Beam PTransform, a one-node :class:`RunGraph`.

Each element is an example, a ``(key, example)`` pair or a :class:`~infergraph.Block`; the
transform runs the handler as a graph of one node, on the same engine and DoFn as ``RunGraph``
and the in-process paths, so every path gives identical results.
"""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.pvalue import PCollection

from ..core.execute import AnyHandler
from ..core.refresh import ModelUpdate
from ..graph.graph import Graph
from .graph import FAILURES, PREDICTIONS, RunGraph, bounded_global_window

__all__ = ["FAILURES", "PREDICTIONS", "RunInference", "bounded_global_window"]


class RunInference(beam.PTransform):  # type: ignore[type-arg]
    """Run a handler over a PCollection of examples, ``(key, example)`` pairs or blocks.

    Example:
        >>> predictions = examples | ig.RunInference(handler)                 # doctest: +SKIP
        >>> predictions, failures = (
        ...     examples | ig.RunInference(handler).with_exception_handling()  # doctest: +SKIP
        ... )

    One :class:`~infergraph.Prediction` per element (for a block whose rows partly fail, one of
    its good rows and a :class:`~infergraph.Failure` per bad row). Without
    :meth:`with_exception_handling`, the first element that fails stops the pipeline with
    :class:`~infergraph.InferenceFailedError` (nothing is dropped silently). Metrics are Beam
    metrics under ``infergraph.<model_id>``.

    Args:
        handler: The handler; it is pickled to the workers and loaded once per process.
        keyed: ``None`` treats 2-tuples as ``(key, example)``; ``True`` requires pairs;
            ``False`` takes every element as the example.
        max_delay_s: In streaming or windowed pipelines, the longest an element waits for its
            batch to fill (default: the handler's ``max_batch_duration_s``); see
            :class:`~infergraph.RunGraph`.
        model_updates: :class:`~infergraph.ModelUpdate` records naming the handler's
            ``model_id`` and a new path (see :class:`~infergraph.RunGraph`).
    """

    def __init__(
        self,
        handler: AnyHandler,
        *,
        keyed: bool | None = None,
        label: str | None = None,
        max_delay_s: float | None = None,
        model_updates: PCollection[ModelUpdate] | None = None,
    ) -> None:
        super().__init__(label or f"RunInference[{handler.model_id}]")
        self.handler = handler
        self.keyed = keyed
        self.max_delay_s = max_delay_s
        self.model_updates = model_updates
        self._route_failures = False

    def with_exception_handling(self) -> RunInference:
        """Return failures as a second output: the transform yields ``(predictions, failures)``."""
        routed = RunInference(
            self.handler,
            keyed=self.keyed,
            label=self.label,
            max_delay_s=self.max_delay_s,
            model_updates=self.model_updates,
        )
        routed._route_failures = True
        return routed

    def expand(self, pcoll: PCollection[Any]) -> Any:
        graph = Graph.of_handler(self.handler)
        run = RunGraph(
            graph,
            keyed=self.keyed,
            handler_view=True,
            max_delay_s=self.max_delay_s,
            model_updates=self.model_updates,
        )
        if self._route_failures:
            return pcoll | "Infer" >> run.with_exception_handling()
        return pcoll | "Infer" >> run
