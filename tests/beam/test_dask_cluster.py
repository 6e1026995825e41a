"""A real Dask cluster: ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, a spec
whose models, input and outputs are on a real S3 API server, run with ``--runner dask``: the
in-process results, the per-node metrics, and nothing lost when a worker is killed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from apache_beam.io.filesystems import FileSystems

from infergraph.cli import main
from infergraph.handlers import storage
from tests.beam.stored_project import BUCKET, ROWS, stored_records, upload_project, write_project
from tests.beam.test_scale_out import in_process
from tests.s3_server import S3Server, free_port, s3_server

pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server(BUCKET) as server:
        yield server


@contextmanager
def cluster(root: Path) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A scheduler and two single-threaded workers, each its own process; the workers import
    the spec's adapters from ``root`` and cache models under it."""
    address = f"tcp://127.0.0.1:{free_port()}"
    env = dict(os.environ, PYTHONPATH=str(root), **{storage.CACHE_ENV: str(root / "cache")})
    dask = [sys.executable, "-m", "dask"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env, "cwd": root}
    port = address.rsplit(":", 1)[1]
    processes = [
        subprocess.Popen(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
            **quiet,  # type: ignore[call-overload]
        )
    ]
    worker = [*dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--no-nanny"]
    for name in ("w1", "w2"):
        processes.append(
            subprocess.Popen([*worker, "--name", name, "--host", "127.0.0.1"], **quiet)  # type: ignore[call-overload]
        )
    try:
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, processes[1:]
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:  # a worker still closing down gracefully
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def project(
    tmp_path: Path, five_onnx: Path, ten_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    FileSystems.set_options(None)


def node_rows(out: str) -> dict[str, list[str]]:
    """The summary's per-node table: name -> elements, failures, skipped, model calls."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("node "))
    return {line.split()[0]: line.split()[1:5] for line in lines[start + 1 :] if line.strip()}


def run_on(address: str, spec: Path, s3: S3Server) -> int:
    args = ["run", str(spec), "--no-progress", "--runner", "dask"]
    return main([*args, f"--dask_client_address={address}", *s3.options])


def test_a_cluster_gives_the_in_process_results_and_metrics(
    project: Path, five_onnx: Path, ten_onnx: Path, s3: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(project, five_onnx, ten_onnx)
    spec = upload_project(project, s3, "cluster")
    with cluster(project) as (address, _):
        assert run_on(address, spec, s3) == 0
    want, failed = in_process(project / "local.yaml")
    assert stored_records(s3, f"s3://{BUCKET}/cluster/out/results.jsonl") == want
    assert not failed
    out = capsys.readouterr().out
    assert f"{ROWS} elements in" in out and f"{ROWS} ok, 0 partial, 0 failed" in out
    rows = node_rows(out)
    assert rows["five"][:3] == [str(ROWS), "0", "0"]
    assert rows["double"][:3] == [str(ROWS), "0", "0"]
    a, b = int(rows["a"][0]), int(rows["b"][0])
    assert a + b == ROWS and a > 0 and b > 0  # the split's arms, each counted once
    assert [k for k in s3.keys(BUCKET, "cluster/out/") if "beam-temp" in k or "staging" in k] == []


def test_a_worker_killed_mid_run_loses_nothing(
    project: Path, five_onnx: Path, ten_onnx: Path, s3: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(project, five_onnx, ten_onnx, slow_s=0.1)
    spec = upload_project(project, s3, "killed")
    with cluster(project) as (address, workers):
        status: list[int] = []
        run = threading.Thread(target=lambda: status.append(run_on(address, spec, s3)))
        run.start()
        killed = kill_a_busy_worker(address, workers)
        run.join(timeout=120)
    assert killed, "no worker was seen running the graph's step"
    assert status == [0]
    want, _ = in_process(project / "local.yaml")
    assert stored_records(s3, f"s3://{BUCKET}/killed/out/results.jsonl") == want
    assert f"{ROWS} ok, 0 partial, 0 failed" in capsys.readouterr().out


def kill_a_busy_worker(address: str, workers: list[subprocess.Popen[bytes]]) -> bool:
    """SIGKILL the worker that runs the graph's step (``_SegmentEachDoFn``), once it does."""
    pids = {process.pid for process in workers}
    with distributed.Client(address, timeout=30, set_as_default=False) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [
                w
                for w, keys in client.processing().items()
                if any("bundle" in str(k) for k in keys)
            ]
            if busy:
                (pid,) = client.run(os.getpid, workers=busy[:1]).values()
                time.sleep(0.5)  # mid-step: some blocks done, others not
                assert pid in pids  # one of the worker processes this test started
                os.kill(pid, signal.SIGKILL)
                return True
            time.sleep(0.05)
    return False
