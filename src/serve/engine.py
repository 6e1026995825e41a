"""The served graph: its loaded models, their version, and hot reload.

A :class:`ServedGraph` holds one :class:`~infergraph.graph.run.GraphRunner` at a time. A
reload (a model file changed, or Triton's repository ``load``) builds a new runner on a thread,
with the new models, and swaps it in with one assignment: the batch running keeps the runner it
started with, the next one takes the new. A model that fails to load leaves the old runner in
place (as Triton keeps the old version), and the error is kept for the answer and the logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.blocks import Block
from ..core.errors import InfergraphError
from ..graph.graph import Graph
from ..graph.nodes import ModelNode
from ..graph.run import GraphRunner, GraphStats

LOG = logging.getLogger("infergraph.serve")


@dataclass(frozen=True)
class Loaded:
    """A runner with its models loaded, and the version of their files."""

    runner: GraphRunner
    version: str
    files: dict[str, str]


def model_files(graph: Graph) -> dict[str, str]:
    """Model node -> its model's file or directory, for the nodes whose config has a ``path``."""
    files = {}
    for name, node in graph.nodes.items():
        path = getattr(node.handler.config, "path", None) if isinstance(node, ModelNode) else None
        if isinstance(path, str):
            files[name] = path
    return files


def stamps(files: dict[str, str]) -> dict[str, str]:
    """Model node -> ``file@modification time (ns)`` of its model now."""
    found = {}
    for name, path in files.items():
        try:
            found[name] = f"{Path(path).name}@{Path(path).stat().st_mtime_ns}"
        except OSError:
            found[name] = f"{Path(path).name}@missing"
    return found


def version_of(files: dict[str, str]) -> str:
    """A short hash of the model files' stamps: what a response says answered it."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class ServedGraph:
    """A graph served: the current runner, reloads, and the metrics they share.

    Args:
        graph: The graph (validated here).
        stats: The metrics every runner reports to.
    """

    def __init__(self, graph: Graph, stats: GraphStats) -> None:
        self.graph = graph
        self.stats = stats
        self.files = model_files(graph)
        self.current: Loaded | None = None
        self.last_error: str | None = None
        self._reload_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether the models are loaded."""
        return self.current is not None

    def load(self) -> Loaded:
        """Load (or reload) every model and swap the new runner in.

        Raises:
            InfergraphError: a model failed to load; the runner in place stays.
        """
        with self._reload_lock:
            files = stamps(self.files)
            if self.current is not None and files == self.current.files:
                return self.current
            try:
                runner = GraphRunner(self.graph, metrics=self.stats)
            except InfergraphError as exc:
                self.last_error = str(exc)
                LOG.error("infergraph serve: could not load the models: %s", exc)
                raise
            loaded = Loaded(runner, version_of(files), files)
            if self.current is not None:
                LOG.warning(
                    "infergraph serve: models reloaded, version %s (%s)",
                    loaded.version,
                    ", ".join(f"{k}: {v}" for k, v in files.items()),
                )
            self.current, self.last_error = loaded, None
            return loaded

    def run(self, block: Block) -> tuple[Any, Loaded]:
        """Run one block through the current runner (on the batcher's thread)."""
        loaded = self.current
        if loaded is None:
            raise InfergraphError("the models are not loaded yet")
        (result,) = loaded.runner.run_blocks([block])
        return result, loaded

    def changed(self) -> bool:
        """Whether a model file changed since the current runner loaded it."""
        return self.current is not None and stamps(self.files) != self.current.files

    async def watch(self, every_s: float) -> None:
        """Reload whenever a model file changes, checking every ``every_s`` seconds; after a
        failed load (the first one included), only once the files change again."""
        failed = stamps(self.files) if self.current is None else None
        while True:
            await asyncio.sleep(every_s)
            now = stamps(self.files)
            if now == failed or (self.current is not None and now == self.current.files):
                continue
            try:
                await asyncio.to_thread(self.load)
            except InfergraphError:
                failed = now
