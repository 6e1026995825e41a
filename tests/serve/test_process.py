"""`infergraph serve` as a process: a spec without inputs or outputs, SIGTERM under load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import uvicorn

from infergraph.serve import create_app
from tests.serve.conftest import free_port, serving, slow_graph, wait_ready

SPEC = """
name: five
models:
  five: {{handler: onnx, path: {model}}}
nodes:
  - {{name: five, model: five}}
serving: {{max_queue_delay_ms: 1500, max_batch_size: 64}}
"""


def _spec(tmp_path: Path, five_onnx: Path) -> Path:
    spec = tmp_path / "five.yaml"
    spec.write_text(SPEC.format(model=five_onnx))
    return spec


def _start(spec: Path, port: int, *extra: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "infergraph.cli", "serve", str(spec), "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [*command, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def _wait_up(process: subprocess.Popen[str], base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.communicate()[0]
        try:
            wait_ready(base)
            return
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


def _one(base: str, value: float) -> requests.Response:
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [value]}]}
    return requests.post(f"{base}/v2/models/five/infer", json=body, timeout=30)


def test_sigterm_answers_every_accepted_request_and_exits_0(
    tmp_path: Path, five_onnx: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = _start(_spec(tmp_path, five_onnx), port)
    try:
        _wait_up(process, base)
        with ThreadPoolExecutor(16) as pool:
            answers = [pool.submit(_one, base, float(i)) for i in range(16)]
            time.sleep(0.5)  # accepted, and waiting for the batch's 1.5 s delay
            process.send_signal(signal.SIGTERM)
            results = [a.result() for a in answers]
        assert [r.status_code for r in results] == [200] * 16
        assert [r.json()["outputs"][0]["data"] for r in results] == [[5.0 * i] for i in range(16)]
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert '"POST /v2/models/five/infer" 200' in output  # one access-log line per request
    finally:
        if process.poll() is None:
            process.kill()


def test_readiness_is_503_once_draining(five_graph: object) -> None:
    app = create_app(five_graph)  # type: ignore[arg-type]
    with serving(app) as base:
        assert requests.get(f"{base}/v2/health/ready", timeout=5).status_code == 200
        app.state.server.drain()
        answer = requests.get(f"{base}/v2/health/ready", timeout=5)
        assert answer.status_code == 503 and answer.json()["reason"] == "shutting down"
        assert requests.get(f"{base}/v2/health/live", timeout=5).status_code == 200


def test_workers_and_a_token_file(tmp_path: Path, five_onnx: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    spec = _spec(tmp_path, five_onnx)
    process = _start(spec, port, "--workers", "2", "--token-file", str(token))
    try:
        _wait_up(process, base)
        headers = {"Authorization": "Bearer tok-123"}
        body = {"instances": [[3.0]]}
        url = f"{base}/v1/models/five:predict"
        assert requests.post(url, json=body, timeout=30).status_code == 401
        answer = requests.post(url, json=body, headers=headers, timeout=30)
        deadline = time.monotonic() + 60
        while answer.status_code == 503 and time.monotonic() < deadline:
            # the other worker may still be loading its models (each worker loads its own)
            time.sleep(float(answer.headers.get("Retry-After", "0.2")) or 0.2)
            answer = requests.post(url, json=body, headers=headers, timeout=30)
        assert answer.json()["predictions"] == [[15.0]], answer.text
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert output.count("Started server process") == 2, output
    finally:
        if process.poll() is None:
            process.kill()


def test_not_ready_until_the_models_are_loaded() -> None:
    app = create_app(slow_graph(load_s=1.0))
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP64", "data": [1.0]}]}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(server.run)
        try:
            while not server.started:
                time.sleep(0.01)
            early = requests.get(f"{base}/v2/health/ready", timeout=5)
            assert early.status_code == 503 and early.json()["reason"] == "loading"
            refused = requests.post(f"{base}/v2/models/slow/infer", json=body, timeout=5)
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            assert requests.get(f"{base}/v2/health/live", timeout=5).status_code == 200
            wait_ready(base)
            answer = requests.post(f"{base}/v2/models/slow/infer", json=body, timeout=5)
            assert answer.json()["outputs"][0]["data"] == [5.0]
        finally:
            server.should_exit = True
            running.result(15)


def test_run_still_needs_the_inputs_a_served_spec_does_without(
    tmp_path: Path, five_onnx: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from infergraph.cli.main import main

    assert main(["run", str(_spec(tmp_path, five_onnx))]) == 2
    assert "the spec has no inputs; add one, or pass --input" in capsys.readouterr().err
