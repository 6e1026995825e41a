"""The engine-agnostic core: the handler contract, results, errors and the batch runner."""

from __future__ import annotations

from .blocks import Block
from .config import HandlerConfig
from .execute import BatchRunner, Item
from .handler import ModelHandler
from .items import to_item
from .metrics import MetricsSink, RunStats
from .results import Failure, Prediction, Result

__all__ = [
    "BatchRunner",
    "Block",
    "Failure",
    "HandlerConfig",
    "Item",
    "MetricsSink",
    "ModelHandler",
    "Prediction",
    "Result",
    "RunStats",
    "to_item",
]
