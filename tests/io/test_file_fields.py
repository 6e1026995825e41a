"""The fields an input file states before its records are read (a header, a schema)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infergraph.io.formats import fields_of as file_fields
from infergraph.io.paths import local_inputs


def test_each_format_that_states_its_fields(tmp_path: Path) -> None:
    table = pa.table({"id": ["a"], "x": [1.0]})
    pq.write_table(table, tmp_path / "t.parquet")
    with pa.ipc.new_file(tmp_path / "file.arrow", table.schema) as writer:
        writer.write_table(table)
    with pa.ipc.new_stream(tmp_path / "stream.arrow", table.schema) as writer:
        writer.write_table(table)
    np.savez(tmp_path / "t.npz", id=np.array(["a"]), x=np.ones(1))
    np.save(tmp_path / "t.npy", np.ones(1))
    (tmp_path / "t.csv").write_text("\ufeffid,x\na,1\n")  # a BOM is no part of the header
    with gzip.open(tmp_path / "t.csv.gz", "wt") as gz:
        gz.write("id,x\na,1\n")
    assert file_fields("parquet", str(tmp_path / "t.parquet")) == ["id", "x"]
    assert file_fields("arrow", str(tmp_path / "file.arrow")) == ["id", "x"]
    assert file_fields("arrow", str(tmp_path / "stream.arrow")) == ["id", "x"]
    assert file_fields("numpy", str(tmp_path / "t.npz")) == ["id", "x"]
    assert file_fields("numpy", str(tmp_path / "t.npy")) == ["x"]
    assert file_fields("csv", str(tmp_path / "t.csv")) == ["id", "x"]
    assert file_fields("csv", str(tmp_path / "t.csv.gz")) == ["id", "x"]


@pytest.mark.parametrize(
    ("kind", "content"),
    [
        ("jsonl", b'{"id": "a"}\n'),  # each record has its own fields
        ("tfrecord", b""),
        ("csv", b""),  # no header: the reader says so
        ("csv", b"\xff\xfe,x\n"),
        ("parquet", b"not parquet"),
        ("arrow", b"not arrow"),
        ("numpy", b"PK not a zip"),
    ],
)
def test_unknown_or_unreadable_is_none(tmp_path: Path, kind: str, content: bytes) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    assert file_fields(kind, str(path)) is None
    assert file_fields(kind, str(tmp_path / "missing")) is None


def test_local_inputs(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv"):
        (tmp_path / name).write_text("x\n")
    assert local_inputs(str(tmp_path / "*.csv")) == [str(tmp_path / n) for n in ("a.csv", "b.csv")]
    assert local_inputs("gs://bucket/*.csv") == []
