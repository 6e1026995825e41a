"""Loaded models, shared by threads and kept for the process (bounded), loaded under a lock.

:data:`SHARED_MODELS` is what :func:`infergraph.predict` and in-process graphs load through: a
model is loaded once per process and shared by every caller that asks for the same handler
config. Beyond the callers holding it, the registry keeps the most recently used models loaded
(an LRU bounded by a count and an optional byte budget), so a notebook or a service calling
``predict`` again does not load again. A model whose file changed on disk is loaded afresh; a
load that fails is not remembered. Beam workers load through Beam's own shared handle instead.
"""

from __future__ import annotations

import enum
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ConfigError, InfergraphError, ModelLoadError
from .handler import ModelHandler
from .metrics import MetricsSink
from .outputs import exception_text

logger = logging.getLogger("infergraph")

AnyHandler = ModelHandler[Any, Any, Any, Any, Any]
Stamp = tuple[tuple[str, int, int], ...] | None

DEFAULT_MAX_MODELS = 4
"""Models kept loaded beyond their callers, unless ``INFERGRAPH_MODEL_CACHE_SIZE`` says."""


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET


class ModelBox:
    """Holds a loaded model; weak-referenceable whatever the model's type.

    Attributes:
        model: The loaded model.
        nbytes: The model's size on disk (its file or directory), the byte budget's measure.
        stamp: The model files' sizes and modification times when it was loaded.
    """

    __slots__ = ("__weakref__", "model", "nbytes", "stamp")

    def __init__(self, model: Any, nbytes: int = 0, stamp: Stamp = None) -> None:
        self.model = model
        self.nbytes = nbytes
        self.stamp = stamp


def load_model(
    handler: AnyHandler,
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
            f"{type(exc).__name__}: {exception_text(exc, redact=handler.redact)}"
        ) from exc
    metrics.distribution("load_time_ms", int((clock() - start) * 1000))
    if handler.fell_back_to_cpu:
        metrics.counter("cpu_fallback")
    return ModelBox(model)


class SharedModels:
    """A process-wide registry of loaded models keyed by :meth:`ModelHandler.cache_key`.

    Every model some caller holds (through its :class:`ModelBox`) stays loaded and shared; in
    addition the ``max_models`` most recently used ones stay loaded while their sizes on disk
    add up to at most ``max_bytes``. Thread-safe.

    Args:
        max_models: Models kept loaded beyond their callers (0 keeps none). Defaults to the
            ``INFERGRAPH_MODEL_CACHE_SIZE`` environment variable, else 4.
        max_bytes: Budget of the kept models' sizes on disk, or ``None`` for no budget.
            Defaults to ``INFERGRAPH_MODEL_CACHE_BYTES``, else none.
    """

    def __init__(self, *, max_models: int | None = None, max_bytes: int | None = None) -> None:
        self._lock = threading.Lock()
        self._boxes: weakref.WeakValueDictionary[str, ModelBox] = weakref.WeakValueDictionary()
        self._key_locks: dict[str, threading.Lock] = {}
        self._kept: OrderedDict[str, ModelBox] = OrderedDict()
        self.max_models = DEFAULT_MAX_MODELS
        self.max_bytes: int | None = None
        models = _env_int("INFERGRAPH_MODEL_CACHE_SIZE", max_models)
        self.configure(
            max_models=UNSET if models is None else models,
            max_bytes=_env_int("INFERGRAPH_MODEL_CACHE_BYTES", max_bytes),
        )

    def configure(
        self,
        *,
        max_models: int | _Unset = UNSET,
        max_bytes: int | _Unset | None = UNSET,
    ) -> None:
        """Change the bounds; a bound not given stays as it is (``max_bytes=None``: no budget).

        Raises:
            ConfigError: a bound is negative or not an integer.
        """
        for name, value in (("max_models", max_models), ("max_bytes", max_bytes)):
            if value is UNSET or (name == "max_bytes" and value is None):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"model cache: {name} must be an integer >= 0, got {value!r}")
        with self._lock:
            if not isinstance(max_models, _Unset):
                self.max_models = max_models
            if not isinstance(max_bytes, _Unset):
                self.max_bytes = max_bytes
            self._evict()

    def acquire(self, handler: AnyHandler, metrics: MetricsSink) -> ModelBox:
        """The loaded model for ``handler``, loading it if it is not loaded (or changed on disk).

        Raises:
            ModelLoadError: the model could not be loaded (nothing is remembered).
        """
        key = handler.cache_key()
        path = getattr(handler.config, "path", None)
        stamp, nbytes = _stamp(path)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            box = self._boxes.get(key)
            if box is None or box.stamp != stamp:
                box = load_model(handler, metrics)
                box.stamp, box.nbytes = stamp, nbytes
                self._boxes[key] = box
            with self._lock:
                self._kept[key] = box
                self._kept.move_to_end(key)
                self._evict()
            return box

    def loaded(self) -> list[str]:
        """The cache keys of the models kept loaded, least recently used first."""
        with self._lock:
            return list(self._kept)

    def clear(self) -> None:
        """Stop keeping models loaded (those a caller still holds stay until released)."""
        with self._lock:
            self._kept.clear()

    def _evict(self) -> None:
        # Called with self._lock held. A model alone over the budget is not kept; otherwise the
        # least recently used ones go first.
        budget = self.max_bytes
        if budget is not None:
            for key in [k for k, box in self._kept.items() if box.nbytes > budget]:
                del self._kept[key]
        while len(self._kept) > self.max_models:
            self._kept.popitem(last=False)
        if budget is not None:
            while sum(box.nbytes for box in self._kept.values()) > budget:
                self._kept.popitem(last=False)


def _env_int(name: str, given: int | None) -> int | None:
    if given is not None:
        return given
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        # Importing infergraph must not fail; the bad setting is reported and ignored.
        logger.warning("%s must be an integer >= 0, got %r; ignoring it", name, raw)
        return None
    return int(raw)


def _stamp(path: str | None) -> tuple[Stamp, int]:
    """The sizes and modification times of a model's files (a changed model gets a new
    stamp), and their total size."""
    if not path:
        return None, 0
    root = Path(path)
    try:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        infos = [(str(file), file.stat()) for file in files]
    except OSError:
        return None, 0
    stamp = tuple((name, info.st_size, info.st_mtime_ns) for name, info in infos)
    return (stamp or None), sum(info.st_size for _, info in infos)


SHARED_MODELS = SharedModels()
