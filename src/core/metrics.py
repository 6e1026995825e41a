"""Metrics the execution paths report, behind one small protocol.

Names (each under the handler's namespace, ``infergraph.<model_id>`` on Beam):

- ``inferences`` (counter): examples (block rows included) that got a prediction.
- ``failures`` (counter): input elements that became failure records.
- ``model_calls`` (counter): calls of ``run``.
- ``batch_size`` (distribution): examples (rows) per model call.
- ``batch_latency_us`` (distribution): microseconds per batch -> run -> postprocess call.
- ``load_time_ms`` (distribution): milliseconds to load the model.
- ``cpu_fallback`` (counter): loads that fell back to the CPU (handlers report it).
- ``bisections`` (counter): failed model calls split in halves to isolate failing elements.
- ``oom_splits`` (counter): model calls halved after an out-of-memory error.
- ``padded_examples`` (counter): padding added for a model with a fixed batch size.
- ``timeouts`` (counter): model calls that ran past ``run_timeout_s``.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol


class MetricsSink(Protocol):
    """Where the core reports counters and distributions."""

    def counter(self, name: str, value: int = 1) -> None:
        """Add ``value`` to the counter ``name``."""

    def distribution(self, name: str, value: int) -> None:
        """Record one integer observation of ``name``."""


class NullMetrics:
    """A sink that drops everything."""

    def counter(self, name: str, value: int = 1) -> None:
        """Drop the update."""

    def distribution(self, name: str, value: int) -> None:
        """Drop the observation."""


@dataclass
class Distribution:
    """Count, sum, min and max of integer observations (the shape Beam reports)."""

    count: int = 0
    sum: int = 0
    min: int | None = None
    max: int | None = None

    def add(self, value: int) -> None:
        self.count += 1
        self.sum += value
        self.min = value if self.min is None else min(self.min, value)
        self.max = value if self.max is None else max(self.max, value)

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else 0.0


@dataclass
class RunStats:
    """In-process metrics: pass one to :func:`infergraph.predict` and read it afterwards."""

    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    distributions: dict[str, Distribution] = field(
        default_factory=lambda: defaultdict(Distribution)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def counter(self, name: str, value: int = 1) -> None:
        """Add ``value`` to the counter ``name``."""
        with self._lock:
            self.counters[name] += value

    def distribution(self, name: str, value: int) -> None:
        """Record one observation of ``name``."""
        with self._lock:
            self.distributions[name].add(value)
