"""A user error prints one line and exits 2, even when it happens on a Beam worker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
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


class Runs:
    """``infergraph predict`` runs as a user starts them, all at once (they take seconds each)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.source = directory / "in.jsonl"
        self.source.write_text('{"id": "a", "x": [1.0]}\n')
        self.started: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, *args: str, verbose: bool = False, **env: str) -> None:
        command = [sys.executable, "-m", "infergraph.cli", *(["-v"] if verbose else [])]
        command += ["predict", *args, "--input", str(self.source)]
        command += ["--output", str(self.directory / f"{name}.jsonl")]
        self.started[name] = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
            cwd=self.directory,
        )

    def result(self, name: str) -> subprocess.CompletedProcess[str]:
        process = self.started[name]
        out, err = process.communicate(timeout=120)
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, five_onnx: Path) -> Iterator[Runs]:
    directory = tmp_path_factory.mktemp("user_errors")
    runs = Runs(directory)
    site = install(
        directory / "site", "ig-needy", "1.0", {"ig_needy": NEEDY}, {"needy": "ig_needy"}
    )
    runs.start("dependency", "--handler", "needy", PYTHONPATH=str(site))
    runs.start("missing", "--handler", "onnx", "--model", "missing.onnx")
    (directory / "corrupt.onnx").write_bytes(b"\x08\x07 this is not a protobuf \xff\xff")
    runs.start("corrupt", "--handler", "onnx", "--model", "corrupt.onnx")
    runs.start("gpu", "--handler", "onnx", "--model", str(five_onnx), "--set", "device=gpu")
    runs.start("verbose", "--handler", "onnx", "--model", "missing.onnx", verbose=True)
    yield runs
    for process in runs.started.values():
        if process.poll() is None:
            process.kill()
            process.communicate()


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("infergraph: error: ")
    return lines[0].removeprefix("infergraph: error: ")


def test_a_missing_dependency_on_the_worker(runs: Runs) -> None:
    assert one_error_line(runs.result("dependency")) == (
        "the needy handler needs the 'needy-runtime' package, which is not installed. "
        "Install it with: pip install needy-runtime"
    )


def test_a_missing_model(runs: Runs) -> None:
    message = one_error_line(runs.result("missing"))
    assert message == "ONNX model 'missing.onnx' not found (no such file)"


def test_a_corrupt_model(runs: Runs) -> None:
    message = one_error_line(runs.result("corrupt"))
    assert message.startswith("ONNX Runtime could not load 'corrupt.onnx': InvalidProtobuf: ")


def test_a_gpu_request_without_a_gpu(runs: Runs, five_onnx: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed: the GPU may be there")
    done = runs.result("gpu")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "while running" not in done.stderr
    # ONNX Runtime's own C++ log may add a line; infergraph prints exactly one.
    ours = [line for line in done.stderr.splitlines() if line.startswith("infergraph")]
    assert ours == [
        f"infergraph: error: device 'gpu' for {str(five_onnx)!r} needs CUDAExecutionProvider, "
        "but ONNX Runtime is running on CPUExecutionProvider. Install onnxruntime-gpu with a "
        "matching CUDA, or set device='cpu', or allow_cpu_fallback=true"
    ]


def test_verbose_adds_the_traceback(runs: Runs) -> None:
    done = runs.result("verbose")
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
