"""infergraph: run ML models over data, in-process or on Apache Beam, with plugin handlers.

Example:
    >>> import infergraph as ig
    >>> h = ig.handler("onnx", path="model.onnx")           # doctest: +SKIP
    >>> results = list(ig.predict(h, [x1, ("key", x2)]))    # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core.blocks import Block
from .core.config import HandlerConfig
from .core.errors import (
    BatchError,
    CircuitOpenError,
    ConfigError,
    DeviceError,
    DuplicateHandlerError,
    EndpointUnavailableError,
    GraphError,
    HandlerNotFoundError,
    InferenceError,
    InferenceFailedError,
    InfergraphError,
    InputError,
    MissingDependencyError,
    ModelLoadError,
    ModelTimeoutError,
    PluginError,
    PostprocessError,
    RequestError,
    RequestRejectedError,
    RunDeadlineError,
    RunnerError,
    SpecError,
)
from .core.handler import ModelHandler
from .core.metrics import RunStats
from .core.refresh import ModelUpdate, watch_models
from .core.results import Failure, Prediction
from .core.sharing import SHARED_MODELS as model_cache
from .graph import Graph, GraphResult, GraphStats, Lineage, load_graph, when
from .graph.single import predict
from .handlers.beam_bridge import from_beam
from .plugins.hookspecs import PROJECT_NAME, hookimpl
from .plugins.manager import Plugins, get_plugin_manager

if TYPE_CHECKING:
    from .beam.bridge import BeamModelHandler
    from .beam.graph import RunGraph
    from .beam.refresh import WatchModels
    from .beam.transform import RunInference

__version__ = "0.1.0"

__all__ = [
    "PROJECT_NAME",
    "BatchError",
    "BeamModelHandler",
    "Block",
    "CircuitOpenError",
    "ConfigError",
    "DeviceError",
    "DuplicateHandlerError",
    "EndpointUnavailableError",
    "Failure",
    "Graph",
    "GraphError",
    "GraphResult",
    "GraphStats",
    "HandlerConfig",
    "HandlerNotFoundError",
    "InferenceError",
    "InferenceFailedError",
    "InfergraphError",
    "InputError",
    "Lineage",
    "MissingDependencyError",
    "ModelHandler",
    "ModelLoadError",
    "ModelTimeoutError",
    "ModelUpdate",
    "PluginError",
    "Plugins",
    "PostprocessError",
    "Prediction",
    "RequestError",
    "RequestRejectedError",
    "RunDeadlineError",
    "RunGraph",
    "RunInference",
    "RunStats",
    "RunnerError",
    "SpecError",
    "WatchModels",
    "__version__",
    "from_beam",
    "get_plugin_manager",
    "handler",
    "hookimpl",
    "load_graph",
    "model_cache",
    "predict",
    "watch_models",
    "when",
]


def handler(
    name: str, /, *, plugins: Plugins | None = None, **options: Any
) -> ModelHandler[Any, Any, Any, Any, Any]:
    """Build the handler registered as ``name`` with validated config ``options``.

    Args:
        name: A registered handler name (``infergraph handlers`` lists them).
        plugins: A plugin manager; defaults to a fresh :func:`get_plugin_manager`.
        **options: Fields of the handler's config.

    Raises:
        HandlerNotFoundError: no such handler; the message lists the registered ones.
        ConfigError: an option is invalid; the message names the field.
    """
    return (plugins or get_plugin_manager()).create(name, **options)


def __getattr__(name: str) -> Any:
    # Beam is imported only when its transform is asked for.
    if name == "RunInference":
        from .beam.transform import RunInference  # noqa: PLC0415 (Beam: lazy)

        return RunInference
    if name == "testing":
        return importlib.import_module(f"{__name__}.testing")
    if name == "RunGraph":
        from .beam.graph import RunGraph  # noqa: PLC0415 (Beam: lazy)

        return RunGraph
    if name == "WatchModels":
        from .beam.refresh import WatchModels  # noqa: PLC0415 (Beam: lazy)

        return WatchModels
    if name == "BeamModelHandler":
        from .beam.bridge import BeamModelHandler  # noqa: PLC0415 (Beam: lazy)

        return BeamModelHandler
    raise AttributeError(f"module 'infergraph' has no attribute {name!r}")
