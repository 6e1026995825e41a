"""Without ``-v`` the command shows only infergraph's own messages, on every runner: no line of
Beam's, Dask's or TensorFlow's on stderr, from this process or from worker processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
TWO_WORKERS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
SPEC = """\
name: quiet
models:
  five: {handler: onnx, path: MODEL}
nodes:
  - {name: five, model: five}
inputs:
  - {format: jsonl, path: in.jsonl, key_field: id}
outputs:
  - {format: jsonl, path: out/out.jsonl}
"""


def infergraph(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "infergraph.cli", *args]
    return subprocess.run(
        command, cwd=directory, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture
def project(tmp_path: Path, five_onnx: Path) -> Path:
    (tmp_path / "five.onnx").write_bytes(five_onnx.read_bytes())
    lines = [f'{{"id": "{i}", "x": [{i}.0]}}\n' for i in range(9)]
    (tmp_path / "in.jsonl").write_text("".join(lines))
    (tmp_path / "spec.yaml").write_text(SPEC.replace("MODEL", "five.onnx"))
    # a model file that is there (the spec's check passes) but no model: it fails on a worker
    (tmp_path / "corrupt.onnx").write_bytes(b"not an onnx model")
    (tmp_path / "corrupt.yaml").write_text(SPEC.replace("MODEL", "corrupt.onnx"))
    return tmp_path


def test_two_worker_processes(project: Path) -> None:
    done = infergraph(project, "run", "spec.yaml", "--no-progress", *TWO_WORKERS)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "9 elements" in done.stdout


def test_an_error_on_two_worker_processes_is_one_line(project: Path) -> None:
    done = infergraph(project, "run", "corrupt.yaml", "--no-progress", *TWO_WORKERS)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("infergraph: error: ") and "corrupt.onnx" in line, line


def test_verbose_shows_beam_s_messages(project: Path) -> None:
    done = infergraph(project, "-vv", "run", "spec.yaml", "--no-progress", *TWO_WORKERS)
    assert done.returncode == 0, done.stderr
    assert "Pipeline_options" in done.stderr  # the workers' logs, through Beam's channel


def test_the_dask_runner_on_a_local_cluster(project: Path) -> None:
    pytest.importorskip("distributed")
    done = infergraph(project, "run", "spec.yaml", "--no-progress", "--runner", "dask")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert sorted(p.name for p in (project / "out").iterdir()) == [
        "out.failures.jsonl",
        "out.jsonl",
    ]


def test_tensorflow_on_two_worker_processes(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    example = ROOT / "examples" / "times_table"
    sys.path.insert(0, str(example))
    try:
        from build import build
    finally:
        sys.path.remove(str(example))
    build(tmp_path / "work")
    shutil.copy(example / "1_predictions.yaml", tmp_path)
    done = infergraph(tmp_path, "run", "1_predictions.yaml", "--no-progress", *TWO_WORKERS)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
