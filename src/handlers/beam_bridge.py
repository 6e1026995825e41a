"""The ``beam`` handler: any Apache Beam ``ModelHandler`` as an infergraph handler.

Beam's own handlers (scikit-learn, PyTorch, XGBoost, Hugging Face, TensorFlow...) then run with
infergraph's keys, failure isolation, batching, metrics, graphs and both execution paths. Name
the Beam handler by an importable factory (``module:callable``) and its keyword arguments, as a
graph spec or the command line can::

    ig.handler("beam", factory="apache_beam.ml.inference.sklearn_inference:"
               "SklearnModelHandlerNumpy", kwargs={"model_uri": "model.pkl"})

or wrap a Beam handler object you built with :func:`from_beam`. Each example goes to the Beam
handler's ``run_inference`` as it is, after its preprocessing functions (``with_preprocess_fn``);
each prediction is the ``PredictionResult.inference`` (or the whole result, with
``output="result"``), after its postprocessing functions. Give the Beam handler unkeyed
examples: infergraph carries the keys.

Apache Beam is imported by the factory, not by this module.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from ..core.config import HandlerConfig, validate_config
from ..core.errors import ConfigError, MissingDependencyError
from ..core.handler import ModelHandler
from ..plugins.hookspecs import Register, hookimpl

NAME = "beam"


class BeamBridgeConfig(HandlerConfig):
    """Config of the ``beam`` handler."""

    factory: str | None = Field(
        default=None,
        description="The Beam ModelHandler to run, as 'module:callable': a class or function "
        "that returns an apache_beam.ml.inference.base.ModelHandler (e.g. "
        "'apache_beam.ml.inference.sklearn_inference:SklearnModelHandlerNumpy'). Required "
        "unless the handler was built with infergraph.from_beam().",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for the factory (e.g. {'model_uri': 'model.pkl'}). They "
        "are JSON values; for others (enums, functions), point `factory` at a function of "
        "your own that builds the Beam handler.",
    )
    inference_args: dict[str, Any] | None = Field(
        default=None,
        description="Extra keyword arguments for every run_inference call, as Beam's "
        "RunInference(inference_args=...) passes them; checked by the Beam handler's "
        "validate_inference_args.",
    )
    output: Literal["inference", "result"] = Field(
        default="inference",
        description="What a prediction is: the Beam PredictionResult's 'inference' (default), "
        "or the whole 'result' (example, inference, model_id).",
    )


class BeamBridgeHandler(ModelHandler[Any, list[Any], list[Any], Any, Any]):
    """Runs an Apache Beam ``ModelHandler``: its ``load_model`` and ``run_inference``.

    Batching follows the infergraph config; where it leaves ``min_batch_size`` or
    ``max_batch_size`` unset, the Beam handler's ``batch_elements_kwargs()`` give them.
    """

    Config = BeamBridgeConfig
    config: BeamBridgeConfig
    #: The Beam ``ModelHandler`` this handler runs (``None`` until a factory or from_beam).
    beam_handler: Any = None

    def __init__(self, config: HandlerConfig | None = None, /, **options: Any) -> None:
        """Build the handler and the Beam handler its ``factory`` names.

        Raises:
            ConfigError: no factory, or one that cannot be imported, called, or does not
                return a Beam ``ModelHandler``.
        """
        super().__init__(config, **options)
        self._token = ""
        if self.config.factory is not None:
            self._adopt(_build(self.config.factory, self.config.kwargs))

    def _adopt(self, beam_handler: Any) -> None:
        _check_beam_handler(beam_handler, self.config.factory or "from_beam()")
        self.beam_handler = beam_handler
        beam_handler.validate_inference_args(self.config.inference_args)
        batching = dict(beam_handler.batch_elements_kwargs() or {})
        update = {
            field: batching[field]
            for field in ("min_batch_size", "max_batch_size")
            if field in batching and field not in self.config.model_fields_set
        }
        if update:
            given = self.config.model_dump(exclude_unset=True)
            merged = validate_config(type(self.config), {**given, **update}, self.name or NAME)
            self.config = merged  # type: ignore[assignment]

    def load(self) -> Any:
        """Set the Beam handler's environment variables and load its model."""
        beam_handler = self._require_beam_handler()
        beam_handler.set_environment_vars()
        try:
            return beam_handler.load_model()
        except ImportError as exc:
            missing = exc.name or str(exc)
            raise MissingDependencyError(
                f"the Beam handler {type(beam_handler).__name__} needs {missing!r}, which is "
                f"not installed: {exc}. Install the package that provides it",
                package=exc.name,
            ) from exc

    def run(self, model: Any, batch: list[Any]) -> list[Any]:
        """Preprocess, ``run_inference`` on the whole batch, postprocess."""
        beam_handler = self._require_beam_handler()
        examples = batch
        for fn in beam_handler.get_preprocess_fns():
            examples = [fn(example) for example in examples]
        results = list(beam_handler.run_inference(examples, model, self.config.inference_args))
        for fn in beam_handler.get_postprocess_fns():
            results = [fn(result) for result in results]
        return results

    def postprocess(self, examples: Sequence[Any], outputs: list[Any]) -> list[Any]:
        """The ``inference`` of each ``PredictionResult`` (or the whole result)."""
        if self.config.output == "result":
            return outputs
        return [_inference(result) for result in outputs]

    def default_model_id(self) -> str:
        """``beam:<the Beam handler's class name>``, or the registered name's own label."""
        label = self.name or NAME
        if self.beam_handler is None:
            return label
        return f"{label}:{type(self.beam_handler).__name__}"

    def cache_key(self) -> str:
        """A wrapped Beam handler object is one model: its copies on workers share one load."""
        return f"{super().cache_key()}:{self._token}"

    def _require_beam_handler(self) -> Any:
        if self.beam_handler is None:
            raise ConfigError(
                f"handler {self.name or NAME!r} needs a Beam handler: set the config field "
                "'factory' to 'module:callable', or build it with infergraph.from_beam(handler)"
            )
        return self.beam_handler


def from_beam(beam_handler: Any, /, **options: Any) -> BeamBridgeHandler:
    """An infergraph handler that runs the Apache Beam ``ModelHandler`` ``beam_handler``.

    Example:
        >>> from apache_beam.ml.inference.sklearn_inference import SklearnModelHandlerNumpy
        >>> sklearn = SklearnModelHandlerNumpy(model_uri="model.pkl")
        >>> handler = ig.from_beam(sklearn)                            # doctest: +SKIP
        >>> results = list(ig.predict(handler, [("a", [1.0, 2.0])]))   # doctest: +SKIP

    Args:
        beam_handler: An ``apache_beam.ml.inference.base.ModelHandler`` (unkeyed: infergraph
            carries the keys). It is pickled to Beam workers with the handler.
        **options: Fields of :class:`BeamBridgeConfig` (batching, ``model_id``,
            ``inference_args``, ``output``), but not ``factory``.

    Raises:
        ConfigError: ``beam_handler`` is not a Beam ``ModelHandler``, or an option is invalid.
    """
    if "factory" in options:
        raise ConfigError("from_beam() takes the Beam handler itself: drop the 'factory' option")
    handler = BeamBridgeHandler(**options)
    handler.name = NAME
    handler._adopt(beam_handler)
    handler._token = uuid.uuid4().hex
    return handler


def _build(factory: str, kwargs: dict[str, Any]) -> Any:
    module_name, sep, attr = factory.partition(":")
    where = f"handler {NAME!r}: factory {factory!r}"
    if not sep or not module_name or not attr:
        raise ConfigError(f"{where} must be 'module:callable', e.g. 'my_package.models:build'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{where}: cannot import {module_name!r} ({type(exc).__name__}: {exc}); install "
            "the package that provides it, or fix the name"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{where}: module {module_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{where} is not callable")
    try:
        return target(**kwargs)
    except Exception as exc:
        raise ConfigError(
            f"{where} failed with kwargs {sorted(kwargs)}: {type(exc).__name__}: {exc}"
        ) from exc


def _check_beam_handler(candidate: Any, source: str) -> None:
    missing = [
        method
        for method in ("load_model", "run_inference", "batch_elements_kwargs")
        if not callable(getattr(candidate, method, None))
    ]
    if missing:
        raise ConfigError(
            f"handler {NAME!r}: {source} gave {type(candidate).__name__}, which is not an "
            f"apache_beam.ml.inference.base.ModelHandler (it lacks {', '.join(missing)})"
        )
    if type(candidate).__name__ in ("KeyedModelHandler", "MaybeKeyedModelHandler"):
        raise ConfigError(
            f"handler {NAME!r}: {source} gave a {type(candidate).__name__}; pass the unkeyed "
            "handler inside it: infergraph carries the keys"
        )


def _inference(result: Any) -> Any:
    from apache_beam.ml.inference.base import PredictionResult  # noqa: PLC0415 (Beam: lazy)

    return result.inference if isinstance(result, PredictionResult) else result


@hookimpl
def register_handlers(register: Register) -> None:
    """Register the ``beam`` handler."""
    register(NAME, BeamBridgeHandler)
