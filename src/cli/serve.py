"""``infergraph serve``: a graph spec online (Open Inference Protocol v2, TF Serving v1)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ..core.errors import ConfigError, MissingDependencyError
from ..graph.load import load_spec


def add_parser(commands: Any) -> None:
    """Add the ``serve`` subcommand."""
    serve = commands.add_parser(
        "serve",
        help="serve a graph spec over HTTP (Open Inference Protocol v2, TF Serving v1)",
        description="Serve a graph spec over HTTP: /v2/models/NAME/infer (KServe, Triton, "
        "MLServer clients), /v1/models/NAME:predict (TF Serving, Vertex AI), health, readiness "
        "and /metrics. Concurrent requests share model calls (the spec's serving: section). "
        "SIGTERM answers the accepted requests, then exits 0.",
    )
    serve.add_argument("spec", help="the graph spec file (.yaml, .yml or .json)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    serve.add_argument(
        "--workers", type=int, default=1, help="processes behind the port, each with its models"
    )
    serve.add_argument("--token-file", help="a file with the bearer token requests must carry")
    serve.add_argument("--ssl-certfile", help="TLS certificate (PEM): serve HTTPS")
    serve.add_argument("--ssl-keyfile", help="TLS private key (PEM)")
    serve.add_argument(
        "--grace", type=float, default=30.0, help="seconds a shutdown may take to drain (30)"
    )
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace, extra: list[str]) -> int:
    """Check the spec, then serve it until SIGTERM or Ctrl-C."""
    try:
        from ..serve.process import Options, serve  # noqa: PLC0415 (starlette, uvicorn: optional)
    except ImportError as exc:
        raise MissingDependencyError.for_extra(
            exc.name or "starlette", "serve", "infergraph serve"
        ) from exc
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if (args.ssl_certfile is None) != (args.ssl_keyfile is None):
        raise ConfigError("give both --ssl-certfile and --ssl-keyfile, or neither")
    load_spec(args.spec)  # an invalid spec fails here, with its file and line
    logging.getLogger("infergraph.serve").setLevel(logging.INFO)
    options = Options(
        args.spec,
        args.host,
        args.port,
        args.workers,
        args.token_file,
        args.ssl_certfile,
        args.ssl_keyfile,
        args.grace,
    )
    serve(options)
    return 0
