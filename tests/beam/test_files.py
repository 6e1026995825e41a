from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infergraph.beam.files import ParquetSink, PredictionLogSink, _WriteParquet, match_files
from infergraph.beam.run_files import summarize_files
from infergraph.beam.staging import discard, publish, run_id, stage
from infergraph.core.errors import ConfigError
from infergraph.graph.state import GraphResult
from infergraph.graph.tables import _array, results_table


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


def write_parts(tmp_path: Path, *tables: pa.Table) -> pa.Table:
    writer = _WriteParquet(str(tmp_path / "out"))
    writer.setup()
    writer.start_bundle()
    for table in tables:
        writer.process(table)
    writer.finish_bundle()
    writer.teardown()
    return pq.read_table(sorted(tmp_path.glob("out-*.parquet")))


def test_a_column_of_mixed_types_is_written_as_text(tmp_path: Path) -> None:
    first = pa.table({"key": ["a", "b"], "f": ["x", "y"]})
    then = pa.table({"key": ["c"], "f": [3]})
    table = write_parts(tmp_path, first, then)
    assert table.column("f").to_pylist() == ["x", "y", "3"]
    results = [GraphResult("a", 1, {"f": 1}, {}, ()), GraphResult("b", 2, {"f": "two"}, {}, ())]
    table = results_table([*results, GraphResult(7, 3, {"f": [3]}, {}, ())], ["f"])
    assert table.column("f").to_pylist() == ["1", "two", "[3]"]
    assert table.column("key").to_pylist() == ["a", "b", "7"]


def test_a_column_that_changes_type_is_refused_with_what_to_do(tmp_path: Path) -> None:
    first = pa.table({"key": ["a"], "f": [1.5]})
    with pytest.raises(
        ConfigError,
        match=r"column 'f' holds double values, then string .*"
        r"make node 'f' return values of one type, or write this output as jsonl",
    ):
        write_parts(tmp_path, first, pa.table({"key": ["b"], "f": ["x"]}))


def test_prediction_log_shards_of_an_earlier_run_are_replaced(tmp_path: Path) -> None:
    final = PredictionLogSink(str(tmp_path / "logs"), ["m"])
    for stale in ("logs-00000-of-00002", "logs-00001-of-00002", "logs-notes.txt"):
        (tmp_path / stale).write_text("earlier")
    staged = stage(final, run_id())
    assert Path(staged.path).parent.name.startswith(".infergraph-staging-")
    Path(staged.path).parent.mkdir()
    Path(staged.path + "-00000-of-00001").write_text("this run")
    publish(staged, final)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs-00000-of-00001", "logs-notes.txt"]
    assert (tmp_path / "logs-00000-of-00001").read_text() == "this run"


def test_a_failed_runs_staged_parts_are_discarded(tmp_path: Path) -> None:
    final = ParquetSink(str(tmp_path / "res"), ["m"])
    (tmp_path / "res-0123456789ab.parquet").write_text("earlier")
    staged = stage(final, run_id())
    Path(staged.path).parent.mkdir()
    Path(staged.path + "-ba9876543210.parquet").write_text("this run, unfinished")
    discard(staged)
    assert [p.name for p in tmp_path.iterdir()] == ["res-0123456789ab.parquet"]


def test_a_summary_read_from_files_counts_the_outputs_parts_only(tmp_path: Path) -> None:
    statuses = pa.array(["ok", "ok", "partial"]).dictionary_encode()
    pq.write_table(pa.table({"status": statuses}), tmp_path / "res-0123456789ab.parquet")
    (tmp_path / "res-notes.parquet").write_text("not a part of the output")
    (tmp_path / "failures.jsonl").write_text('{"key": "x"}\n')
    sink = ParquetSink(str(tmp_path / "res"), ["m"])
    summary = summarize_files([sink], str(tmp_path / "failures.jsonl"), 1.0)
    assert (summary.ok, summary.partial, summary.failed) == (2, 1, 1)


def test_a_nodes_mappings_become_a_column_per_field(tmp_path: Path) -> None:
    results = [
        GraphResult("a", 1, {"f": {"x": 1}}, {}, ()),
        GraphResult("b", 2, {"f": {"y": "two"}}, {}, ()),
        GraphResult("c", 3, {}, {}, ("f",)),
    ]
    table = results_table(results, ["f"])
    assert table.column("f.x").to_pylist() == [1, None, None]
    assert table.column("f.y").to_pylist() == [None, "two", None]
    mixed = results_table([*results, GraphResult("d", 4, {"f": "text"}, {}, ())], ["f"])
    assert mixed.column("f").to_pylist() == ['{"x": 1}', '{"y": "two"}', None, "text"]


def test_parts_get_the_columns_of_the_first_and_name_the_output(tmp_path: Path) -> None:
    first = pa.table({"key": ["a"], "f.x": [1], "f.y": ["one"]})
    table = write_parts(tmp_path, first, pa.table({"key": ["b"], "f.x": [2]}))
    assert table.column("f.y").to_pylist() == ["one", None]
    staged = stage(ParquetSink(str(tmp_path / "res"), ["f"]), run_id())
    writer = _WriteParquet(staged.path)
    writer.setup()
    writer.start_bundle()
    writer.process(first)
    expected = f"the Parquet output {str(tmp_path / 'res')!r}: columns \\['f.z'\\] appear after"
    with pytest.raises(ConfigError, match=expected):
        writer.process(pa.table({"key": ["c"], "f.z": [3]}))
    writer.teardown()


def test_block_columns_arrow_cannot_hold_are_written_as_text() -> None:
    valid = np.array([True, False, True])
    column = _array(np.array([1 + 2j, 0, 3j]), valid)
    assert column.to_pylist() == ['"(1+2j)"', None, '"3j"']


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
