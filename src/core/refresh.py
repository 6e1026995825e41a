"""Model refresh without a restart: updates name a model and its new path, loaded in the background.

A :class:`ModelUpdate` names a model node and the path of its new model. A :class:`Refresher`
loads each new one in a background thread (through the process's model cache, so threads and
DoFns of one process load it once) while the old model goes on answering; whoever runs batches
calls :func:`swap_ready` between two batches and swaps in what finished loading, so a batch
runs wholly on one version. A model that fails to load is reported (a warning and the
``model_refresh_failures`` counter of its node) and the old one is kept. Each loaded model has a
version, its path and its files' modification time, which results carry in their lineage.
"""

from __future__ import annotations

import functools
import glob
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ConfigError, InfergraphError
from .execute import BatchRunner
from .handler import ModelHandler
from .metrics import MetricsSink
from .sharing import SHARED_MODELS, ModelBox, SharedModels

logger = logging.getLogger("infergraph")

AnyHandler = ModelHandler[Any, Any, Any, Any, Any]

__all__ = [
    "InUse",
    "Loaded",
    "ModelUpdate",
    "Refresher",
    "consume",
    "model_version",
    "newest_models",
    "swap_ready",
    "versions_of",
    "watch_models",
    "with_path",
]


@dataclass(frozen=True)
class ModelUpdate:
    """A model node of a graph and the path of its new model.

    Attributes:
        node: The model node's name (for ``RunInference`` and ``predict``: the model id).
        path: Where the new model is (a file or a directory, as the handler's ``path``).
        version: The model's version (see :func:`model_version`); ``None``: read from the
            files when the update is first seen. An update equal to one already seen is
            ignored, so a file written again under its old name needs its new version (the
            watcher gives it).
    """

    node: str
    path: str
    version: str | None = None


@dataclass(frozen=True)
class Loaded:
    """A model that finished loading: its handler (with the new path), the model, its version."""

    handler: AnyHandler
    box: ModelBox
    version: str


def model_version(path: str) -> str:
    """``path@<modification time>``: the latest modification time of the model's files (UTC,
    to the microsecond), so that a file written again under the same name is a new version."""
    root = Path(path)
    files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    latest = max((file.stat().st_mtime_ns for file in files), default=0)
    stamp = datetime.fromtimestamp(latest / 1e9, tz=UTC).isoformat(timespec="microseconds")
    return f"{path}@{stamp}"


def versions_of(handlers: Mapping[str, AnyHandler]) -> dict[str, str]:
    """The versions of the models of ``handlers`` (those with a path), by model node."""
    return {
        node: model_version(path)
        for node, handler in handlers.items()
        if isinstance(path := getattr(handler.config, "path", None), str) and path
    }


def with_path(handler: AnyHandler, path: str) -> AnyHandler:
    """A handler like ``handler`` whose model is at ``path``, with the same model id.

    Raises:
        ConfigError: the handler's config has no ``path`` field.
    """
    if "path" not in type(handler.config).model_fields:
        raise ConfigError(
            f"handler {handler.model_id!r} ({type(handler).__name__}) has no `path` to "
            "refresh; only handlers whose config has a path take model updates"
        )
    config = handler.config.model_copy(update={"path": path, "model_id": handler.model_id})
    return type(handler)(config)


class Refresher:
    """Loads the models that updates name, in the background, for one graph's model nodes.

    Args:
        handlers: Model node -> its handler now (its path is the version in use).
        sinks: Model node -> its metrics: ``model_refresh_loads`` (a new model loaded),
            ``model_refresh_failures`` (one could not be), ``load_time_ms``; the swap counts
            ``model_refreshes`` (see :func:`swap_ready`).
        cache: Where models are loaded (the process's model cache by default).
        start: Runs a load; a new daemon thread by default (a seam for tests).
    """

    def __init__(
        self,
        handlers: Mapping[str, AnyHandler],
        sinks: Mapping[str, MetricsSink],
        *,
        cache: SharedModels = SHARED_MODELS,
        start: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self._handlers = dict(handlers)
        self._sinks = sinks
        self._cache = cache
        self._start = start or _in_thread
        self._lock = threading.Lock()
        self._seen: set[ModelUpdate] = set()
        self._wanted: dict[str, str] = {}  # node -> version last asked for
        self._loaded: dict[str, Loaded] = {}  # node -> its newest loaded model
        self.generation = 0  # how many models were loaded
        self.versions = versions_of(handlers)

    def offer(self, updates: Iterable[ModelUpdate]) -> None:
        """Start loading each update that names a new version of one of the models."""
        for update in updates:
            if update in self._seen:
                continue
            self._seen.add(update)
            handler = self._handlers.get(update.node)
            if handler is None:
                self._failed(update, f"the graph has no model node {update.node!r}")
                continue
            try:
                version = update.version or model_version(update.path)
            except OSError as exc:
                self._failed(update, f"{type(exc).__name__}: {exc}")
                continue
            with self._lock:
                if version in (self._wanted.get(update.node), self.versions.get(update.node)):
                    continue
                self._wanted[update.node] = version
            self._start(functools.partial(self._load, update, handler, version))

    def newest(self) -> tuple[int, dict[str, Loaded]]:
        """The generation (how many new models were loaded so far) and each refreshed node's
        newest model: whoever runs batches swaps these in between two batches when the
        generation changed (many runners, such as a step's DoFns in one process, may share
        a refresher)."""
        with self._lock:
            return self.generation, dict(self._loaded)

    def _load(self, update: ModelUpdate, handler: AnyHandler, version: str) -> None:
        sink = self._sinks[update.node]
        try:
            new = with_path(handler, update.path)
            box = self._cache.acquire(new, sink)
        except (InfergraphError, OSError) as exc:
            with self._lock:
                if self._wanted.get(update.node) == version:
                    del self._wanted[update.node]  # a later update may name it again
            self._failed(update, str(exc))
            return
        with self._lock:
            if self._wanted.get(update.node) != version:
                return  # a newer update came while this one loaded
            sink.counter("model_refresh_loads")
            self._loaded[update.node] = Loaded(new, box, version)
            self._handlers[update.node] = new
            self.versions[update.node] = version
            self.generation += 1

    def _failed(self, update: ModelUpdate, why: str) -> None:
        logger.warning(
            "model update for %r from %r not applied, the model in use is kept: %s",
            update.node,
            update.path,
            why,
        )
        sink = self._sinks.get(update.node)
        if sink is not None:  # after the warning: whoever waits on the counter sees both
            sink.counter("model_refresh_failures")


def _in_thread(load: Callable[[], None]) -> None:
    threading.Thread(target=load, name="infergraph-model-refresh", daemon=True).start()


@dataclass
class InUse:
    """What one runner of batches uses: the refresher's generation it swapped in last, the
    versions of its models, and the boxes of refreshed models (held while in use)."""

    versions: dict[str, str]
    generation: int = 0
    held: dict[str, ModelBox] = field(default_factory=dict)


def swap_ready(
    refresher: Refresher,
    runners: dict[str, BatchRunner],
    sinks: Mapping[str, MetricsSink],
    in_use: InUse,
) -> dict[str, str]:
    """Swap the models loaded since ``in_use.generation`` into ``runners`` (call it between
    two batches); the versions now in use, by model node."""
    generation, loaded = refresher.newest()
    if generation == in_use.generation:
        return in_use.versions
    in_use.generation = generation
    versions = dict(in_use.versions)
    for node, model in loaded.items():
        if versions.get(node) == model.version:
            continue
        runners[node] = BatchRunner(model.handler, model.box.model, sinks[node])
        in_use.held[node] = model.box  # the old one is let go
        versions[node] = model.version
        sinks[node].counter("model_refreshes")
    in_use.versions = versions
    return versions


def consume(updates: Iterable[ModelUpdate], refresher: Refresher) -> threading.Thread:
    """Offer ``updates`` to ``refresher`` as they come, from a daemon thread (an endless
    iterable, such as :func:`watch_updates`, may block between updates)."""

    def follow() -> None:
        for update in updates:
            refresher.offer([update])

    thread = threading.Thread(target=follow, name="infergraph-model-updates", daemon=True)
    thread.start()
    return thread


DEFAULT_POLL_S = 5.0
"""How often a watcher looks for new model files, unless told."""


def newest_models(patterns: Mapping[str, str]) -> list[ModelUpdate]:
    """For each model node, an update naming the newest file (or directory) its glob pattern
    matches now, by modification time then name; nodes whose pattern matches nothing yet
    are left out. Each update carries its version, so a file written again under its old
    name is a new update."""
    updates = []
    for node, pattern in patterns.items():
        found = []
        for path in glob.glob(pattern):
            try:
                version = model_version(path)
            except OSError:  # removed while we looked
                continue
            found.append((version.rsplit("@", 1)[1], path, version))
        if found:
            _, path, version = max(found)
            updates.append(ModelUpdate(node, path, version))
    return updates


def watch_models(
    patterns: Mapping[str, str],
    *,
    interval_s: float = DEFAULT_POLL_S,
    stop: threading.Event | None = None,
) -> Iterator[ModelUpdate]:
    """A stream of model updates: every ``interval_s``, the newest model each glob pattern
    matches (model node -> pattern), when it is new (another file, or the same file written
    again). No file need exist at the start: a model's first file is an update. It ends when
    ``stop`` is set (``graph.run`` sets it when the run ends), else never.

    Example:
        >>> updates = ig.watch_models({"five": "models/five-*.onnx"}, interval_s=1.0)
        >>> results = graph.run(stream, model_updates=updates)  # doctest: +SKIP
    """
    stop = stop or threading.Event()
    last: dict[str, ModelUpdate] = {}
    while not stop.is_set():
        for update in newest_models(patterns):
            if last.get(update.node) != update:
                last[update.node] = update
                yield update
        stop.wait(interval_s)
