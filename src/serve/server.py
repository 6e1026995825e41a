"""A graph served: its models, its batcher, its metrics, its lifespan (loading, reload, drain)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from ..core.errors import InfergraphError, RequestError
from ..graph.graph import Graph
from ..graph.spec import ServingSpec
from . import v2
from .answers import Answer, answer
from .batcher import Batcher, Pending, Slice
from .engine import ServedGraph
from .limits import timeout_s
from .metrics import ServeMetrics

LOG = logging.getLogger("infergraph.serve")


class GraphServer:
    """A graph served over HTTP: its models, batcher, metrics and state.

    Attributes:
        name: The name the graph is served under.
        serving: Batching and limits.
        served: The graph and its loaded models.
        metrics: The Prometheus metrics.
        batcher: The dynamic batcher.
        draining: Shutdown has started: readiness answers 503.
    """

    def __init__(self, graph: Graph, serving: ServingSpec, name: str | None = None) -> None:
        self.name = name or graph.name
        self.serving = serving
        steps = graph.validate()
        self.metrics = ServeMetrics(self.name, [s.name for s in steps])
        self.served = ServedGraph(graph, self.metrics.stats)
        self.batcher = Batcher(
            self._run_block,
            serving.max_batch_size or 0,
            serving.max_queue_delay_ms / 1e3,
            serving.max_queue_rows,
            on_batch=self.metrics.graph_batch_size.labels(self.name).observe,
        )
        self.metrics.depth.set_function(lambda: self.batcher.depth)  # read when scraped
        self.draining = False
        self._tasks: list[asyncio.Task[None]] = []

    def _run_block(self, block: Any) -> Any:
        return self.served.run(block)

    def drain(self) -> None:
        """Start shutting down: readiness answers 503 from now on."""
        self.draining = True

    @property
    def ready(self) -> bool:
        """Whether the models are loaded and shutdown has not started."""
        return self.served.ready and not self.draining

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """Load the models in the background; on shutdown, drain the queue."""
        self._tasks.append(asyncio.create_task(self._load()))
        try:
            yield
        finally:
            self.drain()
            await self.batcher.close()
            for task in self._tasks:
                task.cancel()

    async def _load(self) -> None:
        try:
            loaded = await asyncio.to_thread(self.served.load)
        except InfergraphError as exc:
            LOG.error("infergraph serve: %s is not ready: %s", self.name, exc)
        else:
            LOG.info("infergraph serve: %s ready, version %s", self.name, loaded.version)
        if self.serving.reload_poll_s is not None:
            self._tasks.append(asyncio.create_task(self.served.watch(self.serving.reload_poll_s)))

    async def infer(self, request: Request, call: v2.InferRequest) -> Answer:
        """Queue a request's rows, wait for its batch (or its deadline), and answer it."""
        current = self.served.current
        if current is None:
            raise RequestError(f"model {self.name!r} is not ready", 503, {"Retry-After": "1"})
        if not self.batcher.max_batch_size:  # by default, the models' largest batch size
            self.batcher.max_batch_size = current.runner.batch_limit()
        deadline = timeout_s(
            request.headers.get("inference-timeout-ms"),
            call.parameters.get("timeout"),
            self.serving.timeout_s,
        )
        pending = self.batcher.submit(call.columns, call.rows)
        part = await self._wait(request, pending, deadline)
        self.metrics.wait.observe(part.waited_s)
        outputs = self.served.graph.output_names
        return answer(part, outputs, call.outputs, call.partial)

    async def _wait(self, request: Request, pending: Pending, deadline: float) -> Slice:
        gone: asyncio.Future[Any] = asyncio.ensure_future(_disconnected(request))
        waiting: set[asyncio.Future[Any]] = {pending.future, gone}
        try:
            done, _ = await asyncio.wait(
                waiting, timeout=deadline, return_when=asyncio.FIRST_COMPLETED
            )
        except asyncio.CancelledError:  # the server is stopping this request: free its rows
            self.batcher.leave(pending)
            raise
        finally:
            gone.cancel()
        if pending.future in done:
            return pending.future.result()
        self.batcher.leave(pending)
        if gone in done:
            raise RequestError("the client disconnected", 499)
        raise RequestError(
            f"the request's deadline of {deadline:g} s passed before it was answered; its rows "
            "left the queue, or their result was dropped (set a longer Inference-Timeout-Ms "
            "header or timeout parameter)",
            504,
        )


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
