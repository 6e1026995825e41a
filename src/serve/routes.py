"""The HTTP routes of a served graph: v2 (health, metadata, infer, repository), v1, metrics.

Errors are ``{"error": message}`` bodies with the status a :class:`RequestError` carries; an
infer request is counted in the metrics whatever its answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..core.errors import InfergraphError, RequestError
from . import v1, v2
from .limits import parse_json, read_body
from .metadata import describe
from .server import LOG, GraphServer

Endpoint = Callable[[Request], Awaitable[Response]]
EXTENSIONS = ["binary_tensor_data", "model_repository"]


def routes(server: GraphServer) -> list[Route]:
    """Every route of ``server``."""
    on = Endpoints(server)
    model_routes = [
        route
        for model in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
        for route in (
            Route(model, _known(server, on.model_metadata)),
            Route(f"{model}/ready", _known(server, on.ready)),
            Route(f"{model}/infer", _guarded(server, "v2", on.infer_v2), methods=["POST"]),
        )
    ]
    return [
        Route("/v2/health/live", on.live),
        Route("/v2/health/ready", on.ready),
        Route("/v2", on.server_metadata),
        *model_routes,
        Route("/v2/repository/models/{name}/load", _known(server, on.load), methods=["POST"]),
        Route("/v1/models/{target}", on.v1_model, methods=["GET", "POST"]),
        Route("/metrics", on.metrics),
    ]


class Endpoints:
    """The endpoints of one served graph."""

    def __init__(self, server: GraphServer) -> None:
        self.server = server
        self.limits = server.serving
        self._predict_v1 = _guarded(server, "v1", self.predict_v1)

    async def live(self, request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(self, request: Request) -> Response:
        server = self.server
        if server.ready:
            return JSONResponse({"ready": True})
        reason = "shutting down" if server.draining else (server.served.last_error or "loading")
        return JSONResponse({"ready": False, "reason": reason}, 503)

    async def server_metadata(self, request: Request) -> Response:
        return JSONResponse(
            {"name": "infergraph", "version": version("infergraph"), "extensions": EXTENSIONS}
        )

    async def model_metadata(self, request: Request) -> Response:
        server = self.server
        current = server.served.current
        if current is None:
            return error(503, f"model {server.name!r} is not ready")
        body = {"name": server.name, "versions": [current.version], "platform": "infergraph"}
        return JSONResponse({**body, **describe(server.served.graph, current.runner)})

    async def infer_v2(self, request: Request) -> Response:
        body = await read_body(request, self.limits.max_body_bytes)
        header = request.headers.get("inference-header-content-length")
        raw = b""
        if header is not None:
            if not header.isdigit():
                raise RequestError(f"bad Inference-Header-Content-Length {header!r}")
            body, raw = body[: int(header)], body[int(header) :]
        doc = parse_json(body, self.limits.max_json_depth)
        call = v2.decode(doc, raw, self.limits.max_elements)
        result = await self.server.infer(request, call)
        content, headers = v2.encode(self.server.name, call, result)
        return Response(content, headers=headers)

    async def predict_v1(self, request: Request) -> Response:
        body = await read_body(request, self.limits.max_body_bytes)
        doc = parse_json(body, self.limits.max_json_depth)
        call, rows = v1.decode(doc, self.limits.max_elements)
        result = await self.server.infer(request, call)
        headers = {"X-Model-Version": result.version}
        return JSONResponse(v1.encode(result, rows), headers=headers)

    async def v1_model(self, request: Request) -> Response:
        """``POST /v1/models/NAME:predict`` and ``GET /v1/models/NAME`` (the model's status)."""
        target = request.path_params["target"]
        name, _, verb = target.partition(":")
        request.path_params["name"] = name
        if verb == "predict" and request.method == "POST":
            return await self._predict_v1(request)
        if verb or request.method != "GET":
            return error(404, f"unknown v1 method {target!r}; use :predict")
        return await _known(self.server, self.v1_status)(request)

    async def v1_status(self, request: Request) -> Response:
        server = self.server
        current = server.served.current
        state = "AVAILABLE" if server.ready else "LOADING" if current is None else "UNLOADING"
        version = current.version if current else ""
        status = {"state": state, "status": {"error_code": "OK", "error_message": ""}}
        return JSONResponse({"model_version_status": [{"version": version, **status}]})

    async def load(self, request: Request) -> Response:
        """Triton's repository ``load``: reload the models now; the old ones stay on failure."""
        try:
            loaded = await asyncio.to_thread(self.server.served.load)
        except InfergraphError as exc:
            return error(400, f"the new model failed to load; the old one still serves: {exc}")
        return JSONResponse({"model_version": loaded.version, "model_files": loaded.files})

    async def metrics(self, request: Request) -> Response:
        text = self.server.metrics.text()
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer: ``{"error": message}``."""
    return JSONResponse({"error": message}, status, headers=headers)


def _guarded(server: GraphServer, protocol: str, endpoint: Endpoint) -> Endpoint:
    """An infer endpoint whose errors become error bodies, counted in the metrics."""

    async def guarded(request: Request) -> Response:
        started = time.perf_counter()
        try:
            _check_target(server, request)
            response = await endpoint(request)
        except RequestError as exc:
            response = error(exc.status, str(exc), exc.headers)
        except Exception as exc:  # a bug or a whole batch failing: the request hears why
            LOG.exception("infergraph serve: request failed")
            response = error(500, f"{type(exc).__name__}: {exc}")
        server.metrics.answered(protocol, response.status_code, time.perf_counter() - started)
        return response

    return guarded


def _known(server: GraphServer, endpoint: Endpoint) -> Endpoint:
    """An endpoint that answers 404 for another model (or version) than the server's."""

    async def known(request: Request) -> Response:
        try:
            _check_target(server, request)
        except RequestError as exc:
            return error(exc.status, str(exc))
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
