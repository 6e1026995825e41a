"""The ``tensorflow`` handler family: SavedModel signatures on a chosen device, and TFX output.

Modules: ``config`` (:class:`TensorFlowConfig`), ``device`` (placement), ``handler``
(:class:`TensorFlowHandler`), ``tfx`` and ``tfx_protos`` (PredictionLog records). Importing
this package does not import TensorFlow; loading a model does.
"""

from __future__ import annotations

from .config import TensorFlowConfig
from .handler import TensorFlowHandler, TFModel, register_handlers

__all__ = ["TFModel", "TensorFlowConfig", "TensorFlowHandler", "register_handlers"]
