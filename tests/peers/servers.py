"""Real peer servers (MLServer, KServe) as subprocesses on 127.0.0.1, for the peer tests.

The servers live in scratch virtual environments built by ``tests/peers/setup.sh DIR`` (they pin
versions that clash with the project's own); ``INFERGRAPH_PEERS=DIR`` points the tests at them,
and without it the tests are skipped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

ENV = "INFERGRAPH_PEERS"
HERE = Path(__file__).parent
READY_TIMEOUT_S = 90.0


def venv(name: str) -> Path:
    """``$INFERGRAPH_PEERS/<name>``, a venv built by setup.sh; skips the test when unset."""
    root = os.environ.get(ENV)
    if not root:
        pytest.skip(
            f"{ENV} is not set: build the peer servers with `bash tests/peers/setup.sh DIR` and "
            f"run with {ENV}=DIR (or `make peers`)"
        )
    path = Path(root) / name
    if not (path / "bin" / "python").is_file():
        pytest.fail(f"{path} is not a venv: run `bash tests/peers/setup.sh {root}` first")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def dead_url() -> str:
    """A loopback URL nobody listens on."""
    return f"http://127.0.0.1:{free_port()}"


@contextmanager
def serve(
    args: Sequence[str], ready_url: str, log: Path, *, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``args`` until the block ends; first wait (bounded) until ``ready_url`` answers 200.

    The server's output goes to ``log``, quoted in the error should it not get ready.
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(args), stdout=out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )
    try:
        wait_ready(process, ready_url, log)
        yield process
    finally:
        stop(process)


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}):\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} not ready after {READY_TIMEOUT_S:g}s:\n{_tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate the server and its workers (its own process group), then kill what lingers."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=15)
    _signal_group(process, signal.SIGKILL)  # workers the server left behind


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


@contextmanager
def mlserver(work: Path) -> Iterator[str]:
    """MLServer serving the scikit-learn ``regressor`` and ``classifier`` (mlserver_models.py)
    from ``work``; yields its base URL."""
    env = venv("mlserver")
    models = work / "models"
    http, grpc, metrics = free_port(), free_port(), free_port()
    subprocess.run(
        [str(env / "bin" / "python"), str(HERE / "mlserver_models.py"), str(models),
         str(http), str(grpc), str(metrics)],
        check=True, timeout=120,
    )
    url = f"http://127.0.0.1:{http}"
    args = [str(env / "bin" / "mlserver"), "start", str(models)]
    with serve(args, f"{url}/v2/health/ready", work / "mlserver.log", cwd=work):
        for model in ("regressor", "classifier"):
            wait_ready_url(f"{url}/v2/models/{model}/ready")
        yield url


@contextmanager
def kserve(work: Path, model: str = "linear") -> Iterator[str]:
    """A KServe ModelServer serving kserve_model.py's ``Linear`` as ``model``; yields its URL."""
    env = venv("kserve")
    http = free_port()
    url = f"http://127.0.0.1:{http}"
    args = [
        str(env / "bin" / "python"), str(HERE / "kserve_model.py"), "--model_name", model,
        "--http_port", str(http), "--enable_grpc", "false", "--workers", "1",
    ]
    with serve(args, f"{url}/v2/models/{model}/ready", work / "kserve.log", cwd=work):
        yield url


def wait_ready_url(url: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.25)
