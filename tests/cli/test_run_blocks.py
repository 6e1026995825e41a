"""``infergraph run`` on the block path: the same outputs as the per-row path, columnar files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infergraph.cli import main
from infergraph.cli.pipeline import check_paths
from infergraph.core.errors import ConfigError
from tests.onnx_models import outer

SPEC = """\
name: blocks
imports: [adapters]
models:
  five: {handler: onnx, path: five.onnx}
  ten: {handler: onnx, path: ten.onnx}
nodes:
  - {name: five, model: five}
  - {name: ten, model: ten}
  - {name: big, function: "adapters:big", input: five, columnar: true}
  - name: by_size
    route:
      cases:
        - when: {field: five.0, op: gt, value: 1000}
          to: fifty
  - {name: fifty, model: ten, input: null}
inputs:
  - {format: FORMAT, path: DATA, key_field: key, input_field: x, read_as: READ}
outputs:
  - {format: jsonl, path: out.jsonl, nodes: [five, ten, big, fifty]}
"""

XS = [105.0, 108.0, 1000.0, 1013.0, 7.0, 250.0, 13.0]


@pytest.fixture
def project(tmp_path: Path, five_onnx: Path, ten_onnx: Path) -> Path:
    for model in (five_onnx, ten_onnx):
        (tmp_path / model.name).write_bytes(model.read_bytes())
    (tmp_path / "adapters.py").write_text(
        "import numpy as np\n\ndef big(y):\n    return np.asarray(y)[:, 0] > 1000\n"
    )
    keys = [f"q{i}" for i in range(len(XS))]
    (tmp_path / "in.csv").write_text(
        "key,x\n" + "".join(f"{k},{x}\n" for k, x in zip(keys, XS, strict=True))
    )
    x = pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(XS, np.float32)), 1)
    pq.write_table(pa.table({"key": keys, "x": x}), tmp_path / "in.parquet", row_group_size=3)
    return tmp_path


def spec(project: Path, fmt: str, data: str, read: str, name: str) -> str:
    text = SPEC.replace("FORMAT", fmt).replace("DATA", data).replace("READ", read)
    text = text.replace("input: null", "input: by_size").replace("out.jsonl", f"{name}.jsonl")
    # the route's input is five, and the route names its targets: fifty's input is the route
    text = text.replace("  - name: by_size\n", "  - name: by_size\n    input: five\n")
    text = text.replace("{name: fifty, model: ten, input: by_size}", "{name: fifty, model: ten}")
    path = project / f"{name}.yaml"
    path.write_text(text)
    return str(path)


def results(path: Path) -> dict[str, Any]:
    return {r["key"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_blocks_and_rows_write_the_same_results(project: Path) -> None:
    # CSV cells are scalars: a [None, 1] model needs rows of one value, so reshape in a
    # columnar function first.
    (project / "adapters.py").write_text(
        (project / "adapters.py").read_text()
        + "\ndef column(x):\n    return np.asarray(x, dtype=np.float32).reshape(-1, 1)\n"
    )
    rows = spec(project, "csv", "in.csv", "rows", "rows")
    blocks = spec(project, "csv", "in.csv", "blocks", "blocks")
    for path in (rows, blocks):
        text = Path(path).read_text()
        text = text.replace(
            "  - {name: five, model: five}\n",
            '  - {name: x, function: "adapters:column", columnar: true}\n'
            "  - {name: five, model: five, input: x}\n",
        ).replace("{name: ten, model: ten}", "{name: ten, model: ten, input: x}")
        Path(path).write_text(text)
    assert main(["run", rows, "--no-progress"]) == 0
    assert main(["run", blocks, "--no-progress"]) == 0
    by_row, by_block = results(project / "rows.jsonl"), results(project / "blocks.jsonl")
    assert by_row == by_block
    assert by_row["q2"]["fifty"] == [50000.0] and by_row["q2"]["big"] is True
    assert by_row["q0"]["status"] == "ok" and by_row["q0"]["skipped"] == ["fifty"]
    assert by_row["q0"]["lineage"]["routes"] == {"by_size": None}


def test_parquet_in_parquet_and_jsonl_out(project: Path) -> None:
    path = spec(project, "parquet", "in.parquet", "auto", "pq")
    text = (
        Path(path)
        .read_text()
        .replace(
            "outputs:\n", "outputs:\n  - {format: parquet, path: out/parts, nodes: [five, fifty]}\n"
        )
    )
    Path(path).write_text(text)
    assert main(["run", path, "--no-progress"]) == 0
    table = pq.read_table(sorted((project / "out").glob("parts-*.parquet")))
    rows = {k: i for i, k in enumerate(table.column("key").to_pylist())}
    assert sorted(rows) == [f"q{i}" for i in range(len(XS))]
    five = table.column("five").to_pylist()
    assert five[rows["q0"]] == [525.0]
    fifty = table.column("fifty").to_pylist()
    assert fifty[rows["q2"]] == [50000.0] and fifty[rows["q0"]] is None
    assert table.column("status").to_pylist()[rows["q3"]] == "ok"
    jsonl = results(project / "pq.jsonl")
    assert jsonl["q3"]["fifty"] == [50650.0] and jsonl["q3"]["lineage"]["routes"] == {
        "by_size": "fifty"
    }


def test_predict_reads_parquet_as_blocks(project: Path, five_onnx: Path) -> None:
    out = project / "p.jsonl"
    args = ["predict", "--handler", "onnx", "--model", str(five_onnx), "--no-progress"]
    args += ["--input", str(project / "in.parquet"), "--output", str(out), "--key-field", "key"]
    assert main([*args, "--input-field", "x"]) == 0
    got = {r["key"]: r["output"] for r in map(json.loads, out.read_text().splitlines())}
    assert got == {f"q{i}": [5 * x] for i, x in enumerate(XS)}


def test_rows_to_parquet(project: Path) -> None:
    (project / "in.jsonl").write_text(
        "".join(json.dumps({"key": f"q{i}", "x": [x]}) + "\n" for i, x in enumerate(XS))
    )
    path = spec(project, "jsonl", "in.jsonl", "rows", "rows_pq")
    text = (
        Path(path)
        .read_text()
        .replace(
            "  - {format: jsonl, path: rows_pq.jsonl, nodes: [five, ten, big, fifty]}",
            "  - {format: parquet, path: out/rows, nodes: [five, ten, big, fifty]}",
        )
    )
    Path(path).write_text(text)
    assert main(["run", path, "--no-progress"]) == 0
    table = pq.read_table(sorted((project / "out").glob("rows-*.parquet")))
    by_key = dict(
        zip(table.column("key").to_pylist(), table.column("fifty").to_pylist(), strict=True)
    )
    assert by_key["q3"] == [50650.0] and by_key["q0"] is None
    assert set(table.column("status").to_pylist()) == {"ok"}
    big = dict(zip(table.column("key").to_pylist(), table.column("big").to_pylist(), strict=True))
    assert big["q3"] is True and big["q0"] is False


NESTED_SPEC = """\
name: nested
models:
  outer: {handler: onnx, path: outer.onnx}
nodes:
  - {name: outer, model: outer}
inputs:
  - {format: FORMAT, path: DATA, key_field: key, input_field: x}
outputs:
  - {format: jsonl, path: out/nested.jsonl}
  - {format: parquet, path: out/nested}
"""


@pytest.mark.parametrize("data", ["in.jsonl", "in.parquet"])  # read as rows, read as blocks
def test_parquet_keeps_the_shape_of_each_rows_output_as_jsonl_does(
    tmp_path: Path, data: str
) -> None:
    outer(tmp_path / "outer.onnx")
    keys, xs = ["a", "b", "c"], [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"key": k, "x": x}) + "\n" for k, x in zip(keys, xs, strict=True))
    )
    x = pa.FixedSizeListArray.from_arrays(pa.array(np.asarray(xs, np.float32).reshape(-1)), 2)
    pq.write_table(pa.table({"key": keys, "x": x}), tmp_path / "in.parquet")
    spec = tmp_path / "nested.yaml"
    spec.write_text(NESTED_SPEC.replace("FORMAT", data.split(".")[1]).replace("DATA", data))
    assert main(["run", str(spec), "--no-progress"]) == 0
    jsonl = {r["key"]: r["outer"] for r in map(json.loads, (tmp_path / "out/nested.jsonl").open())}
    assert jsonl["b"] == [[3.0, 30.0, 300.0], [4.0, 40.0, 400.0]]
    table = pq.read_table(sorted((tmp_path / "out").glob("nested-*.parquet")))
    keys, values = table.column("key").to_pylist(), table.column("outer").to_pylist()
    assert dict(zip(keys, values, strict=True)) == jsonl


def test_parquet_output_writes_keys_of_mixed_types_as_text(project: Path) -> None:
    ids: list[Any] = [0, 1, 2, "three", 4.5, 5]
    (project / "in.jsonl").write_text(
        "".join(json.dumps({"key": k, "x": [float(i)]}) + "\n" for i, k in enumerate(ids))
    )
    path = project / "mixed.yaml"
    path.write_text(
        "name: mixed\nmodels:\n  five: {handler: onnx, path: five.onnx}\n"
        "nodes:\n  - {name: five, model: five}\n"
        "inputs:\n  - {format: jsonl, path: in.jsonl, key_field: key, input_field: x}\n"
        "outputs:\n  - {format: parquet, path: out/mixed}\n"
    )
    assert main(["run", str(path), "--no-progress"]) == 0
    table = pq.read_table(sorted((project / "out").glob("mixed-*.parquet")))
    assert table.schema.field("key").type == pa.string()
    got = dict(zip(table.column("key").to_pylist(), table.column("five").to_pylist(), strict=True))
    assert got == {"0": [0.0], "1": [5.0], "2": [10.0], "three": [15.0], "4.5": [20.0], "5": [25.0]}
    assert (project / "out" / "mixed.failures.jsonl").read_text() == ""


def test_a_rerun_replaces_the_parquet_parts_of_the_run_before(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = spec(project, "parquet", "in.parquet", "auto", "again")
    text = Path(path).read_text()
    text = text.replace("outputs:\n", "outputs:\n  - {format: parquet, path: out/parts}\n")
    Path(path).write_text(text)
    (project / "out").mkdir()
    (project / "out" / "parts-notes.parquet").write_text("not a part of the output")
    assert main(["run", path, "--no-progress"]) == 0
    first = sorted((project / "out").glob("parts-*.parquet"))
    assert main(["run", path, "--no-progress"]) == 0
    parts = sorted((project / "out").glob("parts-*.parquet"))
    assert parts != first and len(parts) == len(first)
    table = pq.read_table([p for p in parts if p.name != "parts-notes.parquet"])
    assert sorted(table.column("key").to_pylist()) == [f"q{i}" for i in range(len(XS))]
    assert len((project / "again.jsonl").read_text().splitlines()) == len(XS)  # replaced too
    # Ctrl-C midway: no part of the interrupted run is readable, the last run's parts stay
    (project / "stop.py").write_text("def big(y):\n    raise KeyboardInterrupt\n")
    text = text.replace("imports: [adapters]", "imports: [stop]").replace("adapters:", "stop:")
    Path(path).write_text(text)
    assert main(["run", path, "--no-progress"]) == 130
    assert sorted((project / "out").glob("parts-*.parquet")) == parts
    assert list((project / "out").glob(".infergraph-staging-*")) == []
    # reading the parts it would replace is refused before the run (here the parts also lack
    # the spec's input field, which is checked first: either way nothing runs)
    capsys.readouterr()
    assert main(["run", path, "--input", str(project / "out" / "parts-*.parquet")]) == 2
    error = capsys.readouterr().err
    assert "would replace its earlier part" in error or "has no field 'x'" in error
    assert sorted((project / "out").glob("parts-*.parquet")) == parts


def test_two_parquet_outputs_in_one_directory_are_both_published(project: Path) -> None:
    path = spec(project, "parquet", "in.parquet", "auto", "two")
    text = Path(path).read_text()
    text = text.replace(
        "outputs:\n",
        "outputs:\n  - {format: parquet, path: out/a, nodes: [five]}\n"
        "  - {format: parquet, path: out/b, nodes: [ten]}\n",
    )
    Path(path).write_text(text)
    assert main(["run", path, "--no-progress"]) == 0
    for name, node in (("a", "five"), ("b", "ten")):
        table = pq.read_table(sorted((project / "out").glob(f"{name}-*.parquet")))
        assert table.num_rows == len(XS) and node in table.column_names
    assert [p.name for p in (project / "out").iterdir() if p.name.startswith(".")] == []


def test_an_input_glob_over_the_outputs_own_parts_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    part = tmp_path / "out" / "parts-1a2b3c4d5e6f.parquet"
    part.write_bytes(b"PAR1")
    glob = str(tmp_path / "out" / "parts-*.parquet")
    with pytest.raises(ConfigError, match="would replace its earlier part"):
        check_paths([glob], [str(tmp_path / "out" / "parts")], str(tmp_path / "f.jsonl"))
    assert part.read_bytes() == b"PAR1"
