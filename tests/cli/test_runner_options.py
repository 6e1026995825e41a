"""What ``run`` and ``predict`` pass to Beam: only Beam's own options, and a runner Beam can
start; anything else is one line and exit 2, saying what to fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import infergraph.beam.run_files as run_files
from infergraph.cli import main
from infergraph.cli.errors import runner_error
from infergraph.core.errors import RunnerError

SPEC = """\
name: one
models:
  five: {handler: onnx, path: five.onnx}
nodes:
  - {name: five, model: five}
inputs:
  - {format: jsonl, path: in.jsonl, key_field: id}
outputs:
  - {format: jsonl, path: out.jsonl}
"""


@pytest.fixture
def spec(tmp_path: Path, five_onnx: Path) -> Path:
    (tmp_path / "five.onnx").write_bytes(five_onnx.read_bytes())
    (tmp_path / "in.jsonl").write_text('{"id": "a", "x": [1.0]}\n')
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path / "spec.yaml"


def error_line(capsys: pytest.CaptureFixture[str], status: int) -> str:
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("infergraph: error: ")
    return lines[0].removeprefix("infergraph: error: ")


def test_a_misspelled_option_is_refused_with_a_hint(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", str(spec), "--no-progress", "--ouput", "x.jsonl"])
    message = error_line(capsys, status)
    assert message.startswith("unknown option '--ouput'")
    assert message.endswith("did you mean '--output'?")
    assert not (spec.parent / "out.jsonl").exists()  # nothing ran


def test_a_misspelled_beam_option_is_refused_with_a_hint(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", str(spec), "--no-progress", "--direct_num_worker=2"])
    assert error_line(capsys, status).endswith("did you mean '--direct_num_workers'?")


def test_predict_refuses_unknown_options(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["predict", "--handler", "onnx", "--model", str(spec.parent / "five.onnx")]
    args += ["--input", str(spec.parent / "in.jsonl"), "--output", str(spec.parent / "p.jsonl")]
    status = main([*args, "--no-progess"])
    assert error_line(capsys, status).endswith("did you mean '--no-progress'?")


def test_an_option_in_the_spec_s_runner_options_is_checked_too(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec.write_text(SPEC + "runner: {name: DirectRunner, options: {direct_num_wokers: 2}}\n")
    status = main(["run", str(spec), "--no-progress"])
    assert "'--direct_num_wokers'" in error_line(capsys, status)


def test_beam_options_pass_through(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--direct_num_workers=1", "--direct_running_mode", "in_memory", "--job_name=x"]
    assert main(["run", str(spec), "--no-progress", *args]) == 0


def test_an_unknown_runner_lists_the_runners(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = error_line(capsys, main(["run", str(spec), "--runner", "NoSuchRunner"]))
    assert message.startswith("unknown runner 'NoSuchRunner'; use one of direct, dask, ")
    assert "DirectRunner" in message and "FlinkRunner" in message
    assert "TestDirectRunner" not in message


def test_a_runner_class_that_does_not_exist(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = error_line(capsys, main(["run", str(spec), "--runner", "no_such.Runner"]))
    assert message.startswith("unknown runner 'no_such.Runner'")


def test_the_dask_runner_without_dask_is_one_line(spec: Path) -> None:
    code = (
        "import sys\n"
        "for name in ('dask', 'distributed'):\n"
        "    sys.modules[name] = None  # as if not installed\n"
        "from infergraph.cli import main\n"
        f"sys.exit(main(['run', {str(spec)!r}, '--no-progress', '--runner', 'dask']))\n"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "infergraph: error: the runner 'infergraph.beam.dask_runner.DaskRunner' needs the "
        "'dask' package, which is not installed. Install it with: pip install 'infergraph[dask]'"
    ]


@pytest.mark.slow
def test_a_portable_runner_without_its_job_server_is_one_line(
    spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jar = tmp_path / "missing.jar"
    status = main(["run", str(spec), "--runner", "FlinkRunner", f"--flink_job_server_jar={jar}"])
    assert error_line(capsys, status) == (
        f"the runner's job server jar '{jar}' does not exist: pass the path of the jar, or "
        "--job_endpoint of a running job server"
    )


def test_a_job_server_that_cannot_be_downloaded_says_where_to_put_it() -> None:
    url = "https://repo.maven.apache.org/maven2/x/job-server-2.77.0.jar"
    cause = RuntimeError(
        f"Unable to fetch remote job server jar at {url}: <urlopen error [Errno -2] Name or "
        "service not known>. Also failed to fetch from Google Maven mirror at https://m/x.jar: "
        "<urlopen error>. If no Internet access at runtime, stage the jar at /cache/x.jar"
    )
    try:
        raise ValueError("wrapped") from cause
    except ValueError as exc:
        found = runner_error(exc)
    assert isinstance(found, RunnerError)
    assert str(found) == (
        f"the runner's job server could not be downloaded from {url} (is the internet "
        "reachable?): download it to /cache/x.jar, or pass --job_endpoint of a running job server"
    )


def test_a_missing_java_is_named() -> None:
    missing = FileNotFoundError(2, "No such file or directory")
    missing.filename = "java"
    assert str(runner_error(missing)) == (
        "the runner needs Java (a JRE with `java` on the PATH), which is not installed"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("runner", "options", "says"),
    [
        ("PortableRunner", [], "You must specify a --job_endpoint"),
        ("DataflowRunner", [], "Missing required option: project."),
        ("dask", ["--dask_client_address=tcp://127.0.0.1:1", "--dask_connection_timeout=2"],
         "Timed out trying to connect to tcp://127.0.0.1:1"),
    ],
)
def test_a_runner_that_cannot_start_is_one_line(
    spec: Path, capsys: pytest.CaptureFixture[str], runner: str, options: list[str], says: str
) -> None:
    if runner == "dask":
        pytest.importorskip("distributed")
    status = main(["run", str(spec), "--no-progress", "--runner", runner, *options])
    message = error_line(capsys, status)
    assert message.startswith("the runner ") and says in message, message
    assert message.endswith("; -v shows the traceback")


def test_a_prism_runner_that_cannot_be_downloaded_says_what_to_do() -> None:
    url = "https://github.com/apache/beam/releases/download/v2.77.0/prism-linux-amd64.zip"
    found = runner_error(RuntimeError(f"Unable to fetch remote prism binary at {url}: <urlopen>"))
    assert str(found) == (
        f"the Prism runner could not be downloaded from {url} (is the internet reachable?): "
        "pass --prism_location of a local copy, or use --runner direct"
    )


def test_an_error_of_the_local_runner_keeps_its_traceback(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure on the DirectRunner that is no infergraph error is a bug: not one line."""
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(run_files, "_run", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["run", str(spec), "--no-progress"])
