"""A user error prints one line and exits 2, even when it happens on a Beam worker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugins.dists import install

NEEDY = """
from infergraph import MissingDependencyError, ModelHandler, hookimpl


class Needy(ModelHandler):
    def load(self):
        try:
            import infergraph_runtime_that_is_not_installed as runtime
        except ImportError as exc:
            raise MissingDependencyError(
                "the needy handler needs the 'needy-runtime' package, which is not "
                "installed. Install it with: pip install needy-runtime",
                package="needy-runtime",
            ) from exc
        return runtime

    def run(self, model, batch):
        return batch


@hookimpl
def register_handlers(register):
    register("needy", Needy)
"""


def predict(
    tmp_path: Path, *args: str, verbose: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``infergraph predict ARGS`` over one record, as a user runs it."""
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "x": [1.0]}\n')
    command = [sys.executable, "-m", "infergraph.cli", *(["-v"] if verbose else [])]
    command += ["predict", *args]
    command += ["--input", str(source), "--output", str(tmp_path / "out.jsonl")]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, env=env, cwd=tmp_path
    )


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("infergraph: error: ")
    return lines[0].removeprefix("infergraph: error: ")


def test_a_missing_dependency_on_the_worker(tmp_path: Path) -> None:
    site = install(tmp_path / "site", "ig-needy", "1.0", {"ig_needy": NEEDY}, {"needy": "ig_needy"})
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = predict(tmp_path, "--handler", "needy", env=env)
    assert one_error_line(done) == (
        "the needy handler needs the 'needy-runtime' package, which is not installed. "
        "Install it with: pip install needy-runtime"
    )


def test_a_missing_model(tmp_path: Path) -> None:
    done = predict(tmp_path, "--handler", "onnx", "--model", "missing.onnx")
    assert one_error_line(done) == "ONNX model 'missing.onnx' not found (no such file)"


def test_a_corrupt_model(tmp_path: Path) -> None:
    (tmp_path / "corrupt.onnx").write_bytes(b"\x08\x07 this is not a protobuf \xff\xff")
    done = predict(tmp_path, "--handler", "onnx", "--model", "corrupt.onnx")
    message = one_error_line(done)
    assert message.startswith("ONNX Runtime could not load 'corrupt.onnx': InvalidProtobuf: ")


def test_a_gpu_request_without_a_gpu(five_onnx: Path, tmp_path: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed: the GPU may be there")
    done = predict(tmp_path, "--handler", "onnx", "--model", str(five_onnx), "--set", "device=gpu")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "while running" not in done.stderr
    # ONNX Runtime's own C++ log may add a line; infergraph prints exactly one.
    ours = [line for line in done.stderr.splitlines() if line.startswith("infergraph")]
    assert ours == [
        f"infergraph: error: device 'gpu' for {str(five_onnx)!r} needs CUDAExecutionProvider, "
        "but ONNX Runtime is running on CPUExecutionProvider. Install onnxruntime-gpu with a "
        "matching CUDA, or set device='cpu', or allow_cpu_fallback=true"
    ]


def test_verbose_adds_the_traceback(tmp_path: Path) -> None:
    done = predict(tmp_path, "--handler", "onnx", "--model", "missing.onnx", verbose=True)
    assert done.returncode == 2
    assert "Traceback (most recent call last)" in done.stderr
    assert 'raise ModelLoadError(f"ONNX model' in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "infergraph: error: ONNX model 'missing.onnx' not found (no such file)"
    )


def test_inspect_errors_are_one_line_too(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "infergraph.cli", "inspect", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"infergraph: error: {str(tmp_path)!r} is a directory without saved_model.pb: "
        "not a SavedModel"
    ]
