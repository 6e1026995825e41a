"""Apache Beam execution: the only package of infergraph that imports Beam."""

from __future__ import annotations

from .bridge import BeamModelHandler
from .graph import RunGraph
from .metrics import BeamMetrics
from .transform import FAILURES, PREDICTIONS, RunInference

__all__ = [
    "FAILURES",
    "PREDICTIONS",
    "BeamMetrics",
    "BeamModelHandler",
    "RunGraph",
    "RunInference",
]
