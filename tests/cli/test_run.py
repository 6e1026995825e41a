"""``infergraph run``: a spec from files to files on the DirectRunner, with its exit statuses."""

from __future__ import annotations

import glob
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infergraph.cli import main
from infergraph.core.tfexample import make_example
from infergraph.handlers.tensorflow.tfx_protos import prediction_log_types
from infergraph.io.tfrecord import write_record

SPEC = """\
name: times
imports: [adapters]
models:
  five: {handler: onnx, path: models/five.onnx}
  ten: {handler: onnx, path: models/ten.onnx}
nodes:
  - {name: five, model: five}
  - {name: to_x, function: "adapters:to_x", input: five}
  - {name: fifty, model: ten, input: to_x}
  - {name: ten, model: ten}
inputs:
  - {format: jsonl, path: data/in.jsonl, key_field: id}
outputs:
  - {format: jsonl, path: out/results.jsonl}
"""

LINES = [
    b'{"id": "a", "x": [105]}',
    b'{"id": "b", "x": [108]}',
    b"not json",
    b'{"id": "c", "x": "text"}',
    b"\xff\xfe",
    b'{"id": "d", "x": [1000]}',
]


@pytest.fixture
def project(tmp_path: Path, five_onnx: Path, ten_onnx: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "data").mkdir()
    for model in (five_onnx, ten_onnx):
        (tmp_path / "models" / model.name).write_bytes(model.read_bytes())
    (tmp_path / "adapters.py").write_text(
        "import numpy as np\n\ndef to_x(y):\n"
        "    return np.asarray(y, dtype=np.float32).reshape(1)\n"
    )
    (tmp_path / "data" / "in.jsonl").write_bytes(b"\n".join(LINES) + b"\n")
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def by_key(records: list[dict]) -> dict:
    return {r["key"]: r for r in records}


def test_run_writes_results_failures_and_a_summary(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(project / "spec.yaml")]) == 0
    results = by_key(read_jsonl(project / "out" / "results.jsonl"))
    assert sorted(results) == ["a", "b", "d"]
    assert results["a"] == {
        "key": "a",
        "fifty": [5250.0],
        "ten": [1050.0],
        "status": "ok",
        "failures": {},
        "skipped": [],
        "lineage": {"nodes": ["five", "to_x", "fifty", "ten"], "routes": {}},
    }
    failures = read_jsonl(project / "out" / "results.failures.jsonl")
    assert sorted(f["message"].split(":")[0] for f in failures if f["stage"] == "input") == [
        f"{project / 'data' / 'in.jsonl'}, line 3",
        f"{project / 'data' / 'in.jsonl'}, line 5",
    ]
    (text,) = [f for f in failures if f["key"] == "c"]
    assert (text["node"], text["stage"], text["input"]) == ("five", "run", {"x": "text"})
    out = capsys.readouterr().out
    assert "6 elements in" in out
    assert "3 ok, 0 partial, 3 failed, 0 skipped" in out
    assert f"results  -> {project / 'out' / 'results.jsonl'}" in out
    node_rows = {line.split()[0]: line.split()[1:5] for line in out.splitlines()[4:]}
    assert node_rows["five"] == ["4", "1", "0", "3"] or node_rows["five"][:3] == ["4", "1", "0"]
    assert node_rows["fifty"][:3] == ["3", "0", "0"]


def test_csv_and_tfrecord_inputs_give_the_jsonl_results(project: Path) -> None:
    assert main(["run", str(project / "spec.yaml")]) == 0
    expected = by_key(read_jsonl(project / "out" / "results.jsonl"))
    csv = project / "data" / "in.csv"
    csv.write_text("id,x\na,105\nb,108\nd,1000\n")
    spec = project / "csv.yaml"
    # A CSV cell is a scalar and the ONNX model takes rows of one value: reshape it first.
    spec.write_text(
        SPEC.replace(
            "{format: jsonl, path: data/in.jsonl, key_field: id}",
            "{format: csv, path: data/in.csv, key_field: id, input_field: x}",
        )
        .replace(
            "  - {name: five, model: five}",
            '  - {name: row, function: "adapters:to_x"}\n  - {name: five, model: five, input: row}',
        )
        .replace("  - {name: ten, model: ten}", "  - {name: ten, model: ten, input: row}")
    )
    assert main(["run", str(spec), "--output", str(project / "csv.jsonl")]) == 0
    from_csv = by_key(read_jsonl(project / "csv.jsonl"))
    for key in ("a", "b", "d"):
        assert from_csv[key]["fifty"] == expected[key]["fifty"]
        assert from_csv[key]["ten"] == expected[key]["ten"]

    stream = io.BytesIO()
    for key, x in (("a", 105.0), ("b", 108.0), ("d", 1000.0)):
        write_record(stream, make_example({"id": key, "x": [x]}))
    (project / "data" / "in.tfrecord").write_bytes(stream.getvalue())
    spec = project / "tfrecord.yaml"
    spec.write_text(
        SPEC.replace(
            "{format: jsonl, path: data/in.jsonl, key_field: id}",
            "{format: tfrecord, path: data/in.tfrecord, key_field: id, example: features}",
        )
    )
    assert main(["run", str(spec), "--output", str(project / "tf.jsonl")]) == 0
    from_tfrecord = by_key(read_jsonl(project / "tf.jsonl"))
    for key in ("a", "b", "d"):
        assert from_tfrecord[key]["fifty"] == expected[key]["fifty"]


def test_prediction_logs_output(project: Path) -> None:
    tf = pytest.importorskip("tensorflow")
    spec = project / "logs.yaml"
    spec.write_text(
        SPEC.replace(
            "  - {format: jsonl, path: out/results.jsonl}",
            "  - {format: predictionlog, path: out/logs, nodes: [fifty, ten]}\n"
            "failures: out/failures.jsonl",
        )
    )
    assert main(["run", str(spec)]) == 0
    files = sorted((project / "out").glob("logs*"))
    log_cls = prediction_log_types().PredictionLog
    logs = [log_cls.FromString(r.numpy()) for r in tf.data.TFRecordDataset([str(f) for f in files])]
    values = sorted(
        (
            log.predict_log.request.model_spec.name,
            float(tf.make_ndarray(log.predict_log.response.outputs["output_0"]).ravel()[0]),
        )
        for log in logs
    )
    assert values == [
        ("fifty", 5250.0),
        ("fifty", 5400.0),
        ("fifty", 50000.0),
        ("ten", 1050.0),
        ("ten", 1080.0),
        ("ten", 10000.0),
    ]
    assert len(read_jsonl(project / "out" / "failures.jsonl")) == 3


def test_exit_status_when_every_input_fails_or_any_with_the_flag(project: Path) -> None:
    (project / "data" / "bad.jsonl").write_text('{"id": "x", "x": "no"}\nnope\n')
    spec = str(project / "spec.yaml")
    assert main(["run", spec, "--input", str(project / "data" / "bad.jsonl")]) == 1
    assert main(["run", spec, "--fail-on-failures"]) == 1


def test_refuses_to_overwrite_its_input(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(project / "spec.yaml")
    data = str(project / "data" / "in.jsonl")
    assert main(["run", spec, "--output", data]) == 2
    assert "is an input file, which the run reads: writing it would" in capsys.readouterr().err
    out = str(project / "o.jsonl")
    assert main(["run", spec, "--output", out, "--failures", out]) == 2
    assert "the failures file" in capsys.readouterr().err
    assert (project / "data" / "in.jsonl").read_bytes().startswith(LINES[0])


@pytest.mark.parametrize(
    ("option", "target", "what"),
    [
        ("--output", "models/five.onnx", "the model of 'five'"),
        ("--output", "models/ten.onnx", "the model of 'ten'"),
        ("--failures", "spec.yaml", "the spec"),
        ("--output", "adapters.py", "the module of function 'adapters:to_x'"),
    ],
)
def test_refuses_to_write_over_any_file_the_run_reads(
    project: Path, capsys: pytest.CaptureFixture[str], option: str, target: str, what: str
) -> None:
    before = (project / target).read_bytes()
    path = str(project / target)
    assert main(["run", str(project / "spec.yaml"), option, path]) == 2
    role = "output" if option == "--output" else "failures"
    assert capsys.readouterr().err.strip() == (
        f"infergraph: error: the {role} file {path!r} is {what}, which the run reads: writing "
        "it would overwrite it; choose another path"
    )
    assert (project / target).read_bytes() == before


def test_refuses_an_output_that_is_a_link_or_not_a_regular_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(project / "spec.yaml")
    (project / "kept.jsonl").write_text("kept\n")
    link = project / "link.jsonl"
    link.symlink_to(project / "kept.jsonl")
    assert main(["run", spec, "--output", str(link)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"infergraph: error: the output file {str(link)!r} is a symbolic link (to "
        f"{str(project / 'kept.jsonl')!r}); outputs are not written through links: name the "
        "file itself, or another path"
    )
    assert link.is_symlink() and (project / "kept.jsonl").read_text() == "kept\n"
    os.mkfifo(project / "pipe")
    (project / "folder").mkdir()
    for path, kind in (
        (project / "pipe", "not a regular file"),
        (project / "folder", "a directory"),
    ):
        assert (
            main(["run", spec, "--output", str(project / "o.jsonl"), "--failures", str(path)]) == 2
        )
        assert capsys.readouterr().err.strip() == (
            f"infergraph: error: the failures file {str(path)!r} is {kind}; outputs are written "
            "to regular files only: choose another path"
        )


def test_an_invalid_spec_is_one_line_and_exit_2(project: Path) -> None:
    spec = project / "bad.yaml"
    spec.write_text(SPEC.replace("model: ten, input: to_x", "model: tne, input: to_x"))
    done = subprocess.run(
        [sys.executable, "-m", "infergraph.cli", "run", str(spec)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"infergraph: error: {spec}:9: nodes[2].model: no model named 'tne' in `models`; "
        "did you mean 'ten'?"
    ]


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"models", "nodes", "inputs", "outputs", "runner"} <= set(schema["properties"])


def test_an_input_override_is_read_as_its_extension_says(project: Path) -> None:
    # The spec reads jsonl; a CSV given with --input is read as CSV, not as lines of JSON.
    (project / "data" / "in.csv").write_text("id,x\na,105\nb,108\n")
    out = project / "csv.jsonl"
    csv = str(project / "data" / "in.csv")
    assert main(["run", str(project / "spec.yaml"), "--input", csv, "--output", str(out)]) == 0
    assert read_jsonl(project / "csv.failures.jsonl") == []
    assert [(r["key"], r["status"]) for r in read_jsonl(out)] == [("a", "ok"), ("b", "ok")]


def test_a_directory_as_input_asks_for_a_glob(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(project / "spec.yaml")
    assert main(["run", spec, "--input", str(project / "data")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"infergraph: error: input {str(project / 'data')!r} is a directory; pass a glob of the "
        f"files in it, such as {str(project / 'data' / '*.jsonl')!r} (quoted, so that the shell "
        "does not expand it)"
    )


def test_an_output_that_cannot_be_written_is_refused_before_the_run(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "taken").write_text("a file, not a directory")
    out = project / "taken" / "sub" / "results.jsonl"
    assert main(["run", str(project / "spec.yaml"), "--output", str(out)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"infergraph: error: cannot write the output file {str(out)!r} in "
        f"{str(out.parent)!r}: {str(project / 'taken')!r} is a file, not a directory; "
        "choose another path"
    )


def test_an_interrupted_run_exits_130_and_leaves_no_temporary_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ctrl-C raises KeyboardInterrupt in whatever the main thread runs: here, a function node.
    (project / "stop.py").write_text("def stop(y):\n    raise KeyboardInterrupt\n")
    spec = project / "stop.yaml"
    spec.write_text(
        SPEC.replace("imports: [adapters]", "imports: [adapters, stop]").replace(
            '"adapters:to_x"', '"stop:stop"'
        )
    )
    assert main(["run", str(spec)]) == 130
    assert capsys.readouterr().err.strip() == (
        "infergraph: interrupted: the run stopped before it finished, so its outputs were not "
        "written (files of an earlier run stay as they were); run it again"
    )
    assert list((project / "out").glob("beam-temp-*")) == []


def _data(project: Path) -> None:
    """Input files whose fields are known before a run."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    np.savez(project / "data" / "in.npz", id=np.array(["a"]), x=np.ones((1, 1), np.float32))
    (project / "data" / "in.csv").write_text("id,x\na,105\n")
    table = pa.table({"id": ["a"], "x": [105.0]})
    pq.write_table(table, project / "data" / "in.parquet")
    with pa.ipc.new_stream(project / "data" / "in.arrow", table.schema) as stream:
        stream.write_table(table)


ROUTED = SPEC.replace(
    "  - {name: ten, model: ten}\n",
    "  - {name: ten, model: ten}\n"
    "  - name: big\n"
    "    route: {cases: [{when: {field: input.size, op: gt, value: 1}, to: big_ten}]}\n"
    "  - {name: big_ten, model: ten}\n",
)


@pytest.mark.parametrize(
    ("spec", "source", "expected"),
    [
        # an input that names no file
        (SPEC, "{format: jsonl, path: data/nope.jsonl, key_field: id}",
         ":12: inputs[0].path: input '{data}/nope.jsonl' not found (no file matches it)"),
        # a key or input field the file does not have
        (SPEC, "{format: numpy, path: data/in.npz, key_field: idd}",
         ":12: inputs[0].key_field: '{data}/in.npz' has no field 'idd'; its fields are "
         "['id', 'x']. Did you mean 'id'?"),
        (SPEC, "{format: parquet, path: data/in.parquet, key_field: id, input_field: y}",
         ":12: inputs[0].input_field: '{data}/in.parquet' has no field 'y'; its fields are "
         "['id', 'x']"),
        (SPEC, "{format: csv, path: data/in.csv, key_field: key}",
         ":12: inputs[0].key_field: '{data}/in.csv' has no field 'key'"),
        # a route condition on a field the file does not have: refused, not every row to the
        # default
        (ROUTED, "{format: csv, path: data/in.csv, key_field: id}",
         ":11: nodes[4]: route 'big', case for 'big_ten': the input has no field 'size'; its "
         "fields are ['x'] (the fields of '{data}/in.csv')"),
        (ROUTED, "{format: arrow, path: data/in.arrow, key_field: id}",
         ":11: nodes[4]: route 'big', case for 'big_ten': the input has no field 'size'"),
        # a way of reading the format does not have
        (SPEC, "{format: jsonl, path: data/in.jsonl, key_field: id, read_as: blocks}",
         ":12: inputs[0].read_as: jsonl inputs are read as rows; use read_as: rows or auto"),
    ],
)
def test_input_errors_name_the_spec_line_before_the_run(
    project: Path, capsys: pytest.CaptureFixture[str], spec: str, source: str, expected: str
) -> None:
    _data(project)
    path = project / "inputs.yaml"
    path.write_text(spec.replace("{format: jsonl, path: data/in.jsonl, key_field: id}", source))
    assert main(["run", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    prefix = f"infergraph: error: {path}{expected.format(data=project / 'data')}"
    assert line.startswith(prefix), line
    assert not (project / "out").exists()


def test_a_route_on_a_field_the_header_has_runs(project: Path) -> None:
    _data(project)
    path = project / "routed.yaml"
    path.write_text(
        ROUTED.replace("input.size", "input.x").replace(
            "{format: jsonl, path: data/in.jsonl, key_field: id}",
            "{format: csv, path: data/in.csv, key_field: id}",
        )
    )
    assert main(["run", str(path), "--no-progress"]) == 0
    (record,) = read_jsonl(project / "out" / "results.jsonl")
    assert record["lineage"]["routes"] == {"big": "big_ten"}


def test_an_output_node_named_like_a_record_field_names_the_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project / "clash.yaml"
    path.write_text(SPEC.replace("name: ten, model: ten}", "name: status, model: ten}"))
    assert main(["run", str(path)]) == 2
    assert capsys.readouterr().err.startswith(
        f"infergraph: error: {path}:14: outputs[0]: output nodes ['status'] clash"
    )


def test_the_summary_names_the_files_written(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = project / "parts.yaml"
    spec.write_text(
        SPEC.replace(
            "  - {format: jsonl, path: out/results.jsonl}",
            "  - {format: parquet, path: out/results}\nfailures: out/failures.jsonl",
        )
    )
    assert main(["run", str(spec), "--no-progress"]) == 0
    out = capsys.readouterr().out
    pattern = f"{project / 'out' / 'results'}-*.parquet"
    assert f"results  -> {pattern}\n" in out
    assert len(glob.glob(pattern)) >= 1
