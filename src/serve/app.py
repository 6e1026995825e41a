"""The ASGI app that serves a graph: routes, lifespan (loading, reload, drain), errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..core.errors import InfergraphError, RequestError
from ..core.graph.graph import Graph
from ..core.graph.load import load_spec
from ..core.graph.spec import ServingSpec
from . import v1, v2
from .answers import Answer, answer
from .batcher import Batcher, Pending, Slice
from .engine import ServedGraph
from .gate import Gate
from .limits import parse_json, read_body, timeout_s
from .metadata import describe
from .metrics import ServeMetrics

LOG = logging.getLogger("infergraph.serve")
Endpoint = Callable[[Request], Awaitable[Response]]


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
        self.metrics.depth.set(self.batcher.depth)
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
        finally:
            gone.cancel()
            self.metrics.depth.set(self.batcher.depth)
        if pending.future in done:
            return pending.future.result()
        self.batcher.leave(pending)
        if gone in done:
            raise RequestError("the client disconnected", 499)
        raise RequestError(
            f"the request's deadline of {deadline:g} s passed before it was answered; its rows "
            "left the queue (set a longer Inference-Timeout-Ms header or timeout parameter)",
            504,
        )


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers=headers)


def _guarded(server: GraphServer, protocol: str, endpoint: Endpoint) -> Endpoint:
    """An infer endpoint whose errors become ``{"error": ...}`` bodies, counted in metrics."""

    async def guarded(request: Request) -> Response:
        started = time.perf_counter()
        try:
            _check_target(server, request)
            response = await endpoint(request)
        except RequestError as exc:
            response = _error(exc.status, str(exc), exc.headers)
        except Exception as exc:  # a bug or a whole batch failing: the request hears why
            LOG.exception("infergraph serve: request failed")
            response = _error(500, f"{type(exc).__name__}: {exc}")
        server.metrics.answered(protocol, response.status_code, time.perf_counter() - started)
        return response

    return guarded


def _routes(server: GraphServer) -> list[Route]:
    limits = server.serving

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        if server.ready:
            return JSONResponse({"ready": True})
        reason = "shutting down" if server.draining else (server.served.last_error or "loading")
        return JSONResponse({"ready": False, "reason": reason}, 503)

    async def server_metadata(request: Request) -> Response:
        return JSONResponse(
            {
                "name": "infergraph",
                "version": _version(),
                "extensions": ["binary_tensor_data", "model_repository"],
            }
        )

    async def model_metadata(request: Request) -> Response:
        current = server.served.current
        if current is None:
            return _error(503, f"model {server.name!r} is not ready")
        body = {"name": server.name, "versions": [current.version], "platform": "infergraph"}
        return JSONResponse({**body, **describe(server.served.graph, current.runner)})

    async def model_ready(request: Request) -> Response:
        return await ready(request)

    async def infer_v2(request: Request) -> Response:
        body = await read_body(request, limits.max_body_bytes)
        header = request.headers.get("inference-header-content-length")
        raw = b""
        if header is not None:
            if not header.isdigit():
                raise RequestError(f"bad Inference-Header-Content-Length {header!r}")
            body, raw = body[: int(header)], body[int(header) :]
        call = v2.decode(parse_json(body, limits.max_json_depth), raw, limits.max_elements)
        result = await server.infer(request, call)
        content, headers = v2.encode(server.name, call, result)
        return Response(content, headers=headers)

    async def predict_v1(request: Request) -> Response:
        body = await read_body(request, limits.max_body_bytes)
        call, rows = v1.decode(parse_json(body, limits.max_json_depth), limits.max_elements)
        result = await server.infer(request, call)
        headers = {"X-Model-Version": result.version}
        return JSONResponse(v1.encode(result, rows), headers=headers)

    async def v1_model(request: Request) -> Response:
        target = request.path_params["target"]
        name, _, verb = target.partition(":")
        if verb == "predict" and request.method == "POST":
            request.path_params["name"] = name
            return await guarded_v1(request)
        if verb or request.method != "GET":
            return _error(404, f"unknown v1 method {target!r}; use :predict")
        if name != server.name:
            return _error(404, f"unknown model {name!r}; this server serves {server.name!r}")
        current = server.served.current
        state = "AVAILABLE" if server.ready else "LOADING" if current is None else "UNLOADING"
        version = current.version if current else ""
        status = {"state": state, "status": {"error_code": "OK", "error_message": ""}}
        return JSONResponse({"model_version_status": [{"version": version, **status}]})

    async def repository_load(request: Request) -> Response:
        if request.path_params["name"] != server.name:
            return _error(404, f"unknown model {request.path_params['name']!r}")
        try:
            loaded = await asyncio.to_thread(server.served.load)
        except InfergraphError as exc:
            return _error(400, f"the new model failed to load; the old one still serves: {exc}")
        return JSONResponse({"model_version": loaded.version, "model_files": loaded.files})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(server.metrics.text(), media_type="text/plain; version=0.0.4")

    guarded_v1 = _guarded(server, "v1", predict_v1)
    return [
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        *[
            route
            for model in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
            for route in (
                Route(model, _known(server, model_metadata)),
                Route(f"{model}/ready", _known(server, model_ready)),
                Route(f"{model}/infer", _guarded(server, "v2", infer_v2), methods=["POST"]),
            )
        ],
        Route("/v2/repository/models/{name}/load", repository_load, methods=["POST"]),
        Route("/v1/models/{target}", v1_model, methods=["GET", "POST"]),
        Route("/metrics", metrics),
    ]


def _known(server: GraphServer, endpoint: Endpoint) -> Endpoint:
    async def known(request: Request) -> Response:
        try:
            _check_target(server, request)
        except RequestError as exc:
            return _error(exc.status, str(exc))
        return await endpoint(request)

    return known


def _check_target(server: GraphServer, request: Request) -> None:
    """Refuse (404) a model name the server does not serve, or a version it does not have."""
    name = request.path_params["name"]
    if name != server.name:
        raise RequestError(f"unknown model {name!r}; this server serves {server.name!r}", 404)
    version = request.path_params.get("version")
    current = server.served.current
    if version is not None and (current is None or version != current.version):
        have = current.version if current else "none yet"
        raise RequestError(f"model {name!r} has no version {version!r}; it has {have}", 404)


def _version() -> str:
    from .. import __version__

    return __version__


def create_app(
    graph: Graph | str | Path,
    *,
    serving: ServingSpec | None = None,
    name: str | None = None,
    token: str | None = None,
) -> Starlette:
    """An ASGI app that serves ``graph`` (a :class:`~infergraph.Graph` or a spec file).

    Mount it in another app, or run it with uvicorn (``infergraph serve`` does). The models load
    in the background when the app starts; ``/v2/health/ready`` answers 503 until they are.

    Args:
        graph: The graph, or the path of its spec file (whose ``serving:`` section applies).
        serving: Batching and limits; the spec's (or the defaults) when not given.
        name: The name it is served under; the graph's name by default.
        token: A bearer token every request but the health checks must carry.
    """
    if not isinstance(graph, Graph):
        loaded = load_spec(graph)
        graph, serving = loaded.graph, serving or loaded.spec.serving
    server = GraphServer(graph, serving or ServingSpec(), name)
    app = Starlette(routes=_routes(server), lifespan=server.lifespan)
    app.state.server = server
    app.add_middleware(Gate, token=token)
    return app
