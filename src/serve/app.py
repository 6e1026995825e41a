"""The ASGI app factory: a graph (or a spec file) as an app to run with uvicorn or mount."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from ..graph.graph import Graph
from ..graph.load import load_spec
from ..graph.spec import ServingSpec
from .gate import Gate
from .routes import routes
from .server import GraphServer


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
    ``app.state.server`` is its :class:`GraphServer`.

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
    app = Starlette(routes=routes(server), lifespan=server.lifespan)
    app.state.server = server
    app.add_middleware(Gate, token=token)
    return app
