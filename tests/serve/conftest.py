"""A real uvicorn server on a free port of 127.0.0.1, and small handlers to serve."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import requests
import uvicorn
from pydantic import Field

import infergraph as ig
from infergraph import Block, HandlerConfig, ModelHandler


class SlowConfig(HandlerConfig):
    factor: float = Field(default=5.0, description="What each number is multiplied by.")
    sleep_s: float = Field(default=0.0, description="How long each model call takes.")
    reject: float | None = Field(default=None, description="A value the model refuses.")
    load_s: float = Field(default=0.0, description="How long loading takes.")


class Slow(ModelHandler[Any, np.ndarray, np.ndarray, Any, float]):
    """y = factor * x, each call taking ``sleep_s``; refuses ``reject``."""

    Config = SlowConfig
    accepts_blocks = True
    config: SlowConfig

    def load(self) -> float:
        time.sleep(self.config.load_s)
        return self.config.factor

    def batch(self, examples: Sequence[Any]) -> np.ndarray:
        return np.asarray(examples, dtype=np.float64)

    def batch_block(self, block: Block) -> np.ndarray:
        return np.asarray(block.data, dtype=np.float64)

    def run(self, model: float, batch: np.ndarray) -> np.ndarray:
        time.sleep(self.config.sleep_s)
        if self.config.reject is not None and np.any(batch == self.config.reject):
            raise ValueError(f"the model refuses {self.config.reject}")
        return batch * model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(app: Any, **options: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on 127.0.0.1 until the block ends; yields its base URL."""
    port = free_port()
    options.setdefault("timeout_graceful_shutdown", 2)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    scheme = "https" if "ssl_certfile" in options else "http"
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.01)
        wait_ready(base, verify=options.get("ssl_certfile", True))
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


def wait_ready(base: str, verify: Any = True) -> None:
    deadline = time.monotonic() + 20
    while requests.get(f"{base}/v2/health/ready", verify=verify, timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "the models did not load"
        time.sleep(0.02)


def slow_graph(name: str = "slow", **config: Any) -> ig.Graph:
    graph = ig.Graph(name)
    graph.model("times", Slow(**config))
    graph.chain("times")
    return graph


@pytest.fixture
def five_graph(five_onnx: Any) -> ig.Graph:
    graph = ig.Graph("five")
    graph.model("five", "onnx", path=str(five_onnx))
    graph.chain("five")
    return graph
