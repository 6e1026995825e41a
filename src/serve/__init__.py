"""``infergraph serve``: a graph online, over the Open Inference Protocol v2 and TF Serving's v1.

Needs the ``serve`` extra (``pip install 'infergraph[serve]'``). :func:`create_app` returns an
ASGI app to run with uvicorn or mount in another app; see docs/serve.md.
"""

from __future__ import annotations

from ..core.errors import MissingDependencyError

try:
    import prometheus_client  # noqa: F401
    import starlette  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError.for_extra(
        exc.name or "starlette", "serve", "infergraph serve"
    ) from exc

from ..graph.spec import ServingSpec
from .app import create_app
from .server import GraphServer

__all__ = ["GraphServer", "ServingSpec", "create_app"]
