"""Any infergraph handler as an Apache Beam ``ModelHandler``, for Beam's own ``RunInference``.

The other direction, a Beam handler run by infergraph, is the ``beam`` handler
(:func:`infergraph.from_beam`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from apache_beam.ml.inference.base import ModelHandler as BeamModelHandlerBase
from apache_beam.ml.inference.base import PredictionResult

from ..core import errors
from ..core.errors import InferenceError
from ..core.execute import AnyHandler, estimate_nbytes
from ..core.metrics import NullMetrics
from ..core.results import Failure, Prediction
from ..core.sharing import load_model
from ..graph.graph import Graph
from ..graph.run import GraphRunner, GraphStats
from ..graph.single import node_results
from .metrics import namespace


class BeamModelHandler(BeamModelHandlerBase[Any, PredictionResult, Any]):
    """An infergraph handler as an ``apache_beam.ml.inference.base.ModelHandler``.

    Use it where Beam's ``RunInference`` is wanted (its model refresh, keyed handlers, its
    ``with_exception_handling`` dead-letter outputs), and any infergraph handler, built-in or
    plugin, works there::

        from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

        examples | RunInference(ig.BeamModelHandler(ig.handler("onnx", path="m.onnx")))
        pairs | RunInference(KeyedModelHandler(ig.BeamModelHandler(handler)))

    Each batch Beam forms goes through the handler's stages as in :func:`infergraph.predict`
    (split into model calls of at most ``max_batch_size`` examples, blocks included), and
    each example gives a ``PredictionResult(example, output, model_id)``. Beam's
    ``RunInference`` treats a batch as a whole: if any of its examples fails, the batch raises
    (the error of the first failing example, with its message) and, with Beam's
    ``with_exception_handling()``, all its examples go to the failed output.
    ``ig.RunInference`` instead isolates failures per example.

    Batching comes from the handler's config (``min_batch_size``, ``max_batch_size`` and
    ``max_batch_bytes`` as Beam's ``max_batch_weight``); ``max_batch_duration_s`` is not
    passed on (it makes Beam batch with state, which bounded DirectRunner pipelines reject):
    pass ``max_batch_duration_secs`` to ``BatchElements`` yourself in streaming pipelines.
    Metrics go to Beam's ``RunInference`` metrics under the namespace ``infergraph.<model_id>``.
    The model is loaded once per process by Beam, as for its own handlers; sharing across
    processes is left at Beam's default (off).

    Args:
        handler: The infergraph handler; it is pickled to Beam's workers.
    """

    def __init__(self, handler: AnyHandler) -> None:
        config = handler.config
        batching: dict[str, Any] = {
            "min_batch_size": config.min_batch_size,
            "max_batch_size": config.batch_size_limit,
        }
        if config.max_batch_bytes is not None:
            batching["max_batch_weight"] = config.max_batch_bytes
            batching["element_size_fn"] = estimate_nbytes
        super().__init__(**batching)
        self.handler = handler

    def load_model(self) -> Any:
        """``handler.load()``; a failure is a :class:`~infergraph.ModelLoadError` naming it."""
        return load_model(self.handler, NullMetrics()).model

    def run_inference(
        self,
        batch: Sequence[Any],
        model: Any,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        """One ``PredictionResult`` per example, in order; raises if any example failed."""
        self.validate_inference_args(inference_args)
        node = self.handler.model_id
        graph = Graph.of_handler(self.handler)
        runner = GraphRunner(graph, metrics=GraphStats({node: NullMetrics()}), models={node: model})
        predictions = []
        fixed = runner.runners[node].fixed or 0
        for example, result in zip(batch, runner.run(list(batch), keyed=False), strict=True):
            outcomes = node_results(result, node, fixed)
            failed = [outcome for outcome in outcomes if isinstance(outcome, Failure)]
            if failed:
                raise _error(failed[0])
            (prediction,) = outcomes
            assert isinstance(prediction, Prediction)
            predictions.append(PredictionResult(example, prediction.output, node))
        return predictions

    def get_num_bytes(self, batch: Sequence[Any]) -> int:
        """The bytes of the batch's examples, estimated as for ``max_batch_bytes``."""
        return sum(estimate_nbytes(example) for example in batch)

    def get_metrics_namespace(self) -> str:
        """``infergraph.<model_id>``, as for :class:`infergraph.RunInference`."""
        return namespace(self.handler.model_id)

    def validate_inference_args(self, inference_args: dict[str, Any] | None) -> None:
        """infergraph handlers take their settings from their config, not per call.

        Raises:
            ConfigError: ``inference_args`` were given.
        """
        if inference_args:
            raise errors.ConfigError(
                f"handler {self.handler.model_id!r} takes no inference_args "
                f"(got {sorted(inference_args)}); set its config fields instead"
            )

    def __repr__(self) -> str:
        return f"BeamModelHandler({self.handler!r})"


def _error(failure: Failure) -> Exception:
    """An exception for ``failure``: its own infergraph class when it has one."""
    cls = getattr(errors, failure.error_type, None)
    if isinstance(cls, type) and issubclass(cls, errors.InfergraphError):
        return cls(failure.message)
    return InferenceError(f"{failure.error_type}: {failure.message}")
