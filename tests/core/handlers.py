"""Small real handlers for testing the core without an ML runtime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from infergraph import Block, HandlerConfig, ModelHandler


class ScaleConfig(HandlerConfig):
    factor: float = Field(default=2.0, description="What each number is multiplied by.")
    reject: float | None = Field(default=None, description="A value the model refuses.")


class ScaleHandler(ModelHandler[Any, np.ndarray, np.ndarray, Any, float]):
    """Multiplies numbers; refuses ``reject`` (the whole batch fails, as real models do)."""

    Config = ScaleConfig
    accepts_blocks = True
    config: ScaleConfig

    loads: ClassVar[int] = 0
    calls: ClassVar[list[int]] = []

    def load(self) -> float:
        type(self).loads += 1
        return self.config.factor

    def batch(self, examples: Sequence[Any]) -> np.ndarray:
        return np.asarray(examples, dtype=np.float64)

    def batch_block(self, block: Block) -> np.ndarray:
        return np.asarray(block.data, dtype=np.float64)

    def run(self, model: float, batch: np.ndarray) -> np.ndarray:
        type(self).calls.append(len(batch))
        if self.config.reject is not None and np.any(batch == self.config.reject):
            raise ValueError(f"the model refuses {self.config.reject}")
        return batch * model
