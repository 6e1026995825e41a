from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from infergraph.beam.files import _WriteParquet


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
