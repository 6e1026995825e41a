"""The same spec on Beam's multi-process DirectRunner and on a local Dask cluster gives exactly
the in-process results (rows and blocks)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import infergraph as ig
from infergraph.cli import main
from infergraph.graph.load import load_spec
from infergraph.graph.plan import input_reader
from infergraph.graph.records import GraphRecords

pytestmark = pytest.mark.slow

SPEC = """\
name: scale
imports: [adapters]
models:
  five: {handler: onnx, path: five.onnx, max_batch_size: 16}
  ten: {handler: onnx, path: ten.onnx, max_batch_size: 16}
nodes:
  - {name: five, model: five}
  - {name: double, function: "adapters:double", input: five, columnar: true}
  - name: ab
    input: five
    split: {a: 0.5, b: 0.5}
  - {name: a, model: ten}
  - {name: b, model: five}
  - {name: arm, merge: [a, b]}
inputs:
  - {format: FORMAT, path: DATA, key_field: key, input_field: x}
outputs:
  - {format: jsonl, path: out.jsonl, nodes: [double, arm]}
"""

ROWS = 300


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, five_onnx: Path, ten_onnx: Path) -> Path:
    root = tmp_path_factory.mktemp("scale")
    for model in (five_onnx, ten_onnx):
        (root / model.name).write_bytes(model.read_bytes())
    (root / "adapters.py").write_text("def double(column):\n    return column * 2\n")
    rng = np.random.default_rng(5)
    xs = rng.uniform(0, 100, ROWS).astype(np.float32)
    xs[[17, 201]] = np.nan  # NaN flows through: a value, written as null
    keys = [f"user-{i}" for i in range(ROWS)]
    column = pa.FixedSizeListArray.from_arrays(pa.array(xs), 1)
    pq.write_table(pa.table({"key": keys, "x": column}), root / "in.parquet", row_group_size=64)
    with open(root / "in.jsonl", "w") as stream:
        for key, x in zip(keys, xs, strict=True):
            stream.write(json.dumps({"key": key, "x": [None if np.isnan(x) else float(x)]}) + "\n")
    for fmt, data in (("parquet", "in.parquet"), ("jsonl", "in.jsonl")):
        spec = SPEC.replace("FORMAT", fmt).replace("DATA", data)
        (root / f"{fmt}.yaml").write_text(spec)
    return root


def in_process(spec: Path) -> tuple[dict[str, Any], set[str]]:
    """The spec's results computed by graph.run in this process: the records written for the
    elements that did not fail, and the keys of those that did."""
    loaded = load_spec(spec)
    entry = loaded.spec.inputs[0]
    source = input_reader(entry, loaded.graph)
    order = [step.name for step in loaded.graph.validate()]
    records = GraphRecords(loaded.spec.outputs[0].nodes or [], order)

    def elements() -> Iterator[Any]:
        with open(loaded.resolve(entry.path), "rb") as stream:
            yield from source.read(stream, entry.path)

    out = {}
    for result in loaded.graph.run(elements()):
        for record in records(result):
            out[record["key"]] = json.loads(ig.graph.records.dumps(record))  # as written
    failed = {key for key, record in out.items() if record["status"] == "failed"}
    return {k: r for k, r in out.items() if k not in failed}, failed


def failed_keys(out: Path) -> set[str]:
    failures = out.with_name(out.name.replace(".jsonl", ".failures.jsonl"))
    return {json.loads(line)["key"] for line in failures.read_text().splitlines()}


def written(path: Path) -> dict[str, Any]:
    return {r["key"]: r for r in map(json.loads, path.read_text().splitlines())}


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_multi_process_direct_runner(project: Path, fmt: str) -> None:
    spec = project / f"{fmt}.yaml"
    out = project / f"mp_{fmt}.jsonl"
    args = ["run", str(spec), "--no-progress", "--output", str(out)]
    args += ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert main(args) == 0
    expected, failed = in_process(spec)
    assert len(expected) + len(failed) == ROWS
    assert written(out) == expected
    assert failed_keys(out) == failed


def test_dask_local_cluster(project: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = project / "parquet.yaml"
    out = project / "dask.jsonl"
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        args = ["run", str(spec), "--no-progress", "--output", str(out), "--runner", "dask"]
        assert main([*args, f"--dask_client_address={cluster.scheduler_address}"]) == 0
    expected, failed = in_process(spec)
    assert written(out) == expected
    assert failed_keys(out) == failed
    assert len(out.read_text().splitlines()) == len(expected)  # each row once


def test_dask_runs_leave_no_temporary_files(project: Path) -> None:
    """Beam's Dask runner left four ``beam-temp-*`` folders per run, one holding a copy of the
    results: a glob over the output folder read every row twice."""
    distributed = pytest.importorskip("distributed")
    out = project / "dask_temp" / "out.jsonl"
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        args = ["run", str(project / "jsonl.yaml"), "--no-progress", "--output", str(out)]
        args += ["--runner", "dask", f"--dask_client_address={cluster.scheduler_address}"]
        assert main(args) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.failures.jsonl", "out.jsonl"]
    rows = [line for path in out.parent.rglob("*.jsonl") for line in path.read_text().splitlines()]
    assert len(rows) == ROWS
