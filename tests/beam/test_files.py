from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infergraph.beam.files import _WriteParquet, match_files
from infergraph.core.errors import ConfigError


def test_parquet_parts_get_one_schema_when_a_column_starts_empty(tmp_path: Path) -> None:
    writer = _WriteParquet(str(tmp_path / "out"))
    writer.setup()
    writer.start_bundle()
    writer.process(pa.table({"key": ["a"], "y": pa.nulls(1)}))  # no value yet: null type
    writer.process(pa.table({"key": ["b"], "y": pa.array([[1.0, 2.0]])}))
    writer.process(pa.table({"key": ["c"], "y": pa.nulls(1)}))
    writer.finish_bundle()
    writer.teardown()
    (part,) = tmp_path.glob("out-*.parquet")
    table = pq.read_table(part)
    assert table.column("y").to_pylist() == [None, [1.0, 2.0], None]
    assert pa.types.is_list(table.schema.field("y").type)


def test_a_bare_relative_glob_matches_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("part-1.jsonl", "part-2.jsonl", "other.csv"):
        (tmp_path / name).write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    expected = [str(tmp_path / "part-1.jsonl"), str(tmp_path / "part-2.jsonl")]
    assert match_files("part-*.jsonl") == expected
    assert match_files("./part-*.jsonl") == expected
    with pytest.raises(ConfigError, match=re.escape("no input file matches 'nothing-*.jsonl'")):
        match_files("nothing-*.jsonl")
