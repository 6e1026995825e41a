"""An infergraph plugin: one module, one entry point, one handler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import Field

from infergraph import Block, HandlerConfig, ModelHandler, hookimpl


class ScaleConfig(HandlerConfig):
    """Config of the ``scale`` handler."""

    factor: float = Field(default=2.0, description="What every number is multiplied by.")


class ScaleHandler(ModelHandler[Any, np.ndarray, np.ndarray, Any, float]):
    """Multiplies arrays by a factor: the smallest real model."""

    Config = ScaleConfig
    accepts_blocks = True
    config: ScaleConfig

    def load(self) -> float:
        return self.config.factor

    def batch(self, examples: Sequence[Any]) -> np.ndarray:
        return np.asarray(examples, dtype=np.float64)

    def batch_block(self, block: Block) -> np.ndarray:
        return np.asarray(block.data, dtype=np.float64)

    def run(self, model: float, batch: np.ndarray) -> np.ndarray:
        return batch * model


@hookimpl
def register_handlers(register: Any) -> None:
    register("scale", ScaleHandler)
