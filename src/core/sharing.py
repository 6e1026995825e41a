"""One loaded model per process, shared by threads, loaded under a lock."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from .errors import InfergraphError, ModelLoadError
from .handler import ModelHandler
from .metrics import MetricsSink


class ModelBox:
    """Holds a loaded model; weak-referenceable whatever the model's type."""

    __slots__ = ("__weakref__", "model")

    def __init__(self, model: Any) -> None:
        self.model = model


def load_model(
    handler: ModelHandler[Any, Any, Any, Any, Any],
    metrics: MetricsSink,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> ModelBox:
    """Call ``handler.load()``, time it, and map unexpected errors to :class:`ModelLoadError`."""
    start = clock()
    try:
        model = handler.load()
    except InfergraphError:
        raise
    except Exception as exc:
        path = getattr(handler.config, "path", None)
        where = f" from {path!r}" if path else ""
        raise ModelLoadError(
            f"handler {handler.model_id!r} could not load its model{where}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    metrics.distribution("load_time_ms", int((clock() - start) * 1000))
    if handler.fell_back_to_cpu:
        metrics.counter("cpu_fallback")
    return ModelBox(model)


class SharedModels:
    """A process-wide registry of loaded models keyed by :meth:`ModelHandler.cache_key`.

    Entries are weak: a model stays loaded while some caller holds its :class:`ModelBox`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boxes: weakref.WeakValueDictionary[str, ModelBox] = weakref.WeakValueDictionary()
        self._key_locks: dict[str, threading.Lock] = {}

    def acquire(
        self, handler: ModelHandler[Any, Any, Any, Any, Any], metrics: MetricsSink
    ) -> ModelBox:
        """The loaded model for ``handler``, loading it once if no caller holds it."""
        key = handler.cache_key()
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            box = self._boxes.get(key)
            if box is None:
                box = load_model(handler, metrics)
                self._boxes[key] = box
            return box


SHARED_MODELS = SharedModels()
