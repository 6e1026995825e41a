"""Running the app under uvicorn: one process that drains on SIGTERM, or N worker processes."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .server import GraphServer

SPEC_VARIABLE = "INFERGRAPH_SERVE_SPEC"
TOKEN_VARIABLE = "INFERGRAPH_SERVE_TOKEN_FILE"


@dataclass(frozen=True)
class Options:
    """Where and how to listen.

    Attributes:
        spec: The graph spec file.
        host: The address to bind (127.0.0.1 unless told otherwise).
        port: The port.
        workers: Processes behind the port, each with its own models.
        token_file: A file holding the bearer token requests must carry.
        ssl_certfile: The TLS certificate (PEM); with ``ssl_keyfile``, serve HTTPS.
        ssl_keyfile: The TLS private key (PEM).
        grace_s: How long a shutdown may take to answer the requests it has accepted.
    """

    spec: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    token_file: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    grace_s: float = 30.0


def read_token(path: str | None) -> str | None:
    """The bearer token in ``path`` (surrounding whitespace removed), or ``None``."""
    if path is None:
        return None
    token = Path(path).read_text().strip()
    return token or None


class DrainingServer(uvicorn.Server):
    """uvicorn's server, whose SIGTERM makes readiness answer 503 at once, stops accepting,
    answers every accepted request, and exits with status 0."""

    def __init__(self, config: uvicorn.Config, graph_server: GraphServer) -> None:
        super().__init__(config)
        self.graph_server = graph_server

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM:
            super().handle_exit(sig, frame)
            return
        self.graph_server.drain()
        self.should_exit = True  # a drained shutdown is a clean exit: SIGTERM is not re-raised


def _settings(options: Options) -> dict[str, Any]:
    return {
        "host": options.host,
        "port": options.port,
        "ssl_certfile": options.ssl_certfile,
        "ssl_keyfile": options.ssl_keyfile,
        "timeout_graceful_shutdown": int(options.grace_s),
        "access_log": False,  # infergraph's own access log has the request id
        "log_level": "info",
    }


def serve(options: Options) -> None:
    """Serve ``options.spec`` until SIGTERM or Ctrl-C."""
    if options.workers > 1:
        os.environ[SPEC_VARIABLE] = options.spec
        if options.token_file:
            os.environ[TOKEN_VARIABLE] = options.token_file
        uvicorn.run(
            f"{__name__}:app_from_environment",
            factory=True,
            workers=options.workers,
            **_settings(options),
        )
        return
    app = create_app(options.spec, token=read_token(options.token_file))
    DrainingServer(uvicorn.Config(app, **_settings(options)), app.state.server).run()


def app_from_environment() -> Starlette:
    """The app of a worker process (``--workers``): the spec and token file named by the
    environment its parent set."""
    return create_app(os.environ[SPEC_VARIABLE], token=read_token(os.environ.get(TOKEN_VARIABLE)))
