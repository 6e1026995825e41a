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
    elif name.endswith(".gz"):
        path.write_bytes(b"not gzip-compressed")
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
        ("corrupt.jsonl.gz", "cannot be read: Error -3 while decompressing data"),
        ("corrupt.csv.gz", "cannot be read"),
    ],
)
def test_an_unreadable_file_is_one_line_naming_it_and_exit_2(
    project: Path, name: str, problem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = unreadable(project, name)
    fmt = {"parquet": "parquet", "jsonl": "jsonl", "csv": "csv"}.get(name.split(".")[1], "numpy")
    spec = write_spec(project, fmt, name, "rows" if fmt == "jsonl" else "blocks")
    if name.endswith(".npy"):
        spec.write_text(spec.read_text().replace("key_field: key, input_field: x, ", ""))
    screen = Terminal()  # a terminal: the progress bar counts the records first
    monkeypatch.setattr("sys.stderr", screen)
    assert main(["run", str(spec)]) == 2
    text = screen.getvalue()
    assert "Traceback" not in text
    assert f"infergraph: error: {path}: {problem}" in text
    assert lines(project / "out.jsonl") == []


@pytest.mark.parametrize("read", ["rows", "blocks"])
def test_one_bad_csv_cell_is_one_failure_and_the_other_rows_are_results(
    project: Path, read: str
) -> None:
    rows = ["key,x"] + [f"k{i},{i}" for i in range(1000)]
    rows[500] = "k499,abc"
    (project / "in.csv").write_text("\n".join(rows) + "\n")
    assert main(["run", str(write_spec(project, "csv", "in.csv", read)), "--no-progress"]) == 0
    results = lines(project / "out.jsonl")
    assert len(results) == 999 and "k499" not in {r["key"] for r in results}
    assert {r["key"]: r["five"] for r in results}["k7"] == [35.0]
    (failure,) = lines(project / "out.failures.jsonl")
    assert failure["key"] == "k499"
    if read == "blocks":
        assert failure["message"] == (
            f"{project / 'in.csv'}, row 500: column 'x' holds 'abc', not a number as the "
            "column's other values are; fix the value"
        )


def test_a_bad_csv_cell_past_the_first_block_arrow_reads_is_one_failure(project: Path) -> None:
    pad = "p" * 80  # past 4 MiB, where Arrow has typed x as numbers from its first block
    rows = ["key,x,pad"] + [f"k{i},{i},{pad}" for i in range(60_000)]
    rows[55_001] = f"k55000,abc,{pad}"
    (project / "in.csv").write_text("\n".join(rows) + "\n")
    assert main(["run", str(write_spec(project, "csv", "in.csv", "blocks")), "--no-progress"]) == 0
    assert sum(1 for _ in (project / "out.jsonl").open()) == 59_999
    (failure,) = lines(project / "out.failures.jsonl")
    assert failure["key"] == "k55000" and "row 55001: column 'x' holds 'abc'" in failure["message"]


def test_a_null_list_in_parquet_is_one_failure_and_the_other_rows_are_results(
    project: Path,
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    x = pa.array([[1.0], [2.0], None, [4.0]], pa.list_(pa.float32()))
    pq.write_table(pa.table({"key": ["a", "b", "c", "d"], "x": x}), project / "in.parquet")
    assert main(["run", str(write_spec(project, "parquet", "in.parquet")), "--no-progress"]) == 0
    assert {r["key"]: r["five"] for r in lines(project / "out.jsonl")} == {
        "a": [5.0],
        "b": [10.0],
        "d": [20.0],
    }
    (failure,) = lines(project / "out.failures.jsonl")
    assert failure["key"] == "c" and failure["message"].startswith(
        f"{project / 'in.parquet'}, row 3: column 'x' is null"
    )
