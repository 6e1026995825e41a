"""``infergraph run`` and ``predict`` on inputs that are hard to read: relative globs, bad cells,
unequal arrays, corrupt files. Each record ends as one result or one failure; a file that cannot
be read at all is one line naming it (exit 2), never a traceback."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from infergraph.cli import main

SPEC = """\
name: reading
imports: [adapters]
models:
  five: {handler: onnx, path: five.onnx}
nodes:
  - {name: col, function: "adapters:col", columnar: true}
  - {name: five, model: five, input: col}
inputs:
  - {format: FORMAT, path: "DATA", key_field: key, input_field: x, read_as: READ}
outputs:
  - {format: jsonl, path: out.jsonl}
"""


@pytest.fixture
def project(tmp_path: Path, five_onnx: Path) -> Path:
    (tmp_path / "five.onnx").write_bytes(five_onnx.read_bytes())
    (tmp_path / "adapters.py").write_text(
        "import numpy as np\n\ndef col(x):\n"
        "    return np.asarray(x, dtype=np.float32).reshape(-1, 1)\n"
    )
    return tmp_path


def write_spec(project: Path, fmt: str, data: str, read: str = "auto") -> Path:
    path = project / "spec.yaml"
    path.write_text(SPEC.replace("FORMAT", fmt).replace("DATA", data).replace("READ", read))
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_bare_relative_glob_in_a_spec_or_input_matches_its_files(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for part in (1, 2):
        (project / f"part-{part}.jsonl").write_text(
            json.dumps({"key": f"k{part}", "x": [float(part)]}) + "\n"
        )
    monkeypatch.chdir(project)
    write_spec(project, "jsonl", "part-*.jsonl", "rows")
    assert main(["run", "spec.yaml", "--no-progress"]) == 0
    assert sorted(r["key"] for r in lines(project / "out.jsonl")) == ["k1", "k2"]
    args = ["run", "spec.yaml", "--no-progress", "--input", "*.jsonl", "--output", "o2.jsonl"]
    assert main(args) == 0
    assert sorted(r["key"] for r in lines(project / "o2.jsonl")) == ["k1", "k2"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def unreadable(project: Path, name: str) -> Path:
    path = project / name
    if name == "corrupt.parquet":
        path.write_bytes(b"PAR1 not a parquet file PAR1")
    elif name == "corrupt.npy":
        path.write_bytes(b"\x93NUMPY garbage")
    elif name == "zero.npy":
        np.save(path, np.float32(3))
    elif name == "objects.npy":
        np.save(path, np.array([{"x": 1}, None]), allow_pickle=True)
    else:
        np.savez(path, key=np.array(["a", "b", "c"]), x=np.zeros((5, 1), np.float32))
    return path


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("corrupt.parquet", "cannot be read as Parquet: "),
        ("corrupt.npy", "cannot be read as numpy: "),
        ("zero.npy", "x is a single value (shape ()), not rows"),
        ("objects.npy", "cannot be read as numpy: it holds an array of Python objects"),
        ("unequal.npz", "its arrays differ in length (key: 3 rows, x: 5 rows)"),
    ],
)
def test_an_unreadable_file_is_one_line_naming_it_and_exit_2(
    project: Path, name: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = unreadable(project, name)
    fmt = "parquet" if name.endswith(".parquet") else "numpy"
    spec = write_spec(project, fmt, name, "blocks")
    if name != "unequal.npz":
        spec.write_text(spec.read_text().replace("key_field: key, input_field: x, ", ""))
    screen = Terminal()  # a terminal: the progress bar counts the records first
    monkeypatch.setattr("sys.stderr", screen)
    assert main(["run", str(spec)]) == 2
    text = screen.getvalue()
    assert "Traceback" not in text
    assert f"infergraph: error: {path}: {problem}" in text
    assert lines(project / "out.jsonl") == []
