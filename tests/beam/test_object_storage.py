"""``infergraph run`` with the models, the input and the outputs on a real S3 API server (moto on
127.0.0.1): the in-process results, outputs published whole, no temporary objects left."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.io.filesystems import FileSystems

from infergraph.cli import main
from infergraph.handlers import storage
from tests.beam.stored_project import BUCKET, ROWS, stored_records, upload_project, write_project
from tests.beam.test_scale_out import in_process
from tests.s3_server import S3Server, s3_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server(BUCKET) as server:
        yield server


@pytest.fixture
def project(
    tmp_path: Path, five_onnx: Path, ten_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    write_project(tmp_path, five_onnx, ten_onnx)
    monkeypatch.setenv(storage.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    FileSystems.set_options(None)


def test_a_spec_on_s3_gives_the_in_process_results(
    project: Path, s3: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = upload_project(project, s3, "direct")
    assert main(["run", str(spec), "--no-progress", *s3.options]) == 0
    want, failed = in_process(project / "local.yaml")
    assert len(want) + len(failed) == ROWS
    assert stored_records(s3, f"s3://{BUCKET}/direct/out/results.jsonl") == want
    failures = s3.read(f"s3://{BUCKET}/direct/out/results.failures.jsonl").decode()
    assert {json.loads(line)["key"] for line in failures.splitlines()} == failed
    keys = s3.keys(BUCKET, "direct/out/")
    tables = [key for key in keys if key.startswith("direct/out/table-")]
    assert len(tables) >= 1 and all(key.endswith(".parquet") for key in tables)
    table = pa.concat_tables(
        pq.read_table(io.BytesIO(s3.read(f"s3://{BUCKET}/{key}"))) for key in tables
    )
    assert sorted(table.column("key").to_pylist()) == sorted(want)
    assert [k for k in keys if "beam-temp" in k or ".infergraph-staging" in k] == []
    assert f"{ROWS} elements" in capsys.readouterr().out
    # a rerun replaces the output's parts: published whole, never added to the last run's
    assert main(["run", str(spec), "--no-progress", *s3.options]) == 0
    again = [key for key in s3.keys(BUCKET, "direct/out/table-")]
    assert set(again).isdisjoint(tables)
    rows = sum(pq.read_table(io.BytesIO(s3.read(f"s3://{BUCKET}/{key}"))).num_rows for key in again)
    assert rows == len(want)


def test_the_scale_out_page_spec_loads_without_reaching_the_store(tmp_path: Path) -> None:
    from infergraph.graph.load import load_spec

    page = (Path(__file__).parents[2] / "docs" / "scale-out.md").read_text()
    (block,) = re.findall(r"```yaml\n(name: scoring\n.*?)```", page, flags=re.DOTALL)
    (tmp_path / "spec.yaml").write_text(block)
    loaded = load_spec(tmp_path / "spec.yaml")  # no network at construction
    assert [entry.path for entry in loaded.spec.inputs] == ["s3://my-bucket/in/part-*.jsonl"]
    assert loaded.graph.output_names == ["ten"]
