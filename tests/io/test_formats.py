from __future__ import annotations

from typing import get_args

import pytest

from infergraph.core.errors import ConfigError
from infergraph.io.columnar import BlockSource
from infergraph.io.formats import (
    INPUTS,
    OUTPUTS,
    InputFormatName,
    OutputFormatName,
    failures_path,
    format_of,
    reader,
)
from infergraph.io.sources import Source


def test_the_spec_names_exactly_the_recorded_formats() -> None:
    assert set(get_args(InputFormatName)) == set(INPUTS)
    assert set(get_args(OutputFormatName)) == set(OUTPUTS)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("in.jsonl", "jsonl"),
        ("in.ndjson.gz", "jsonl"),
        ("data/*.CSV", "csv"),
        ("part.tfrecords", "tfrecord"),
        ("t.pq", "parquet"),
        ("t.feather", "arrow"),
        ("t.npz", "numpy"),
        ("t.txt", None),
    ],
)
def test_a_path_names_its_format_by_suffix(path: str, expected: str | None) -> None:
    assert format_of(path) == expected


def test_every_suffix_names_one_format() -> None:
    suffixes = [suffix for entry in INPUTS.values() for suffix in entry.suffixes]
    assert len(suffixes) == len(set(suffixes))


@pytest.mark.parametrize(
    ("kind", "read_as", "graph_takes_blocks", "blocks"),
    [
        ("jsonl", "auto", True, False),
        ("csv", "auto", True, True),
        ("csv", "auto", False, False),
        ("tfrecord", "blocks", False, True),
        ("tfrecord", "rows", True, False),
        ("parquet", "auto", False, True),
    ],
)
def test_read_as_decides_rows_or_blocks(
    kind: str, read_as: str, graph_takes_blocks: bool, blocks: bool
) -> None:
    chosen = INPUTS[kind].reads_blocks(read_as, graph_takes_blocks)
    assert chosen is blocks
    source = reader(kind, blocks=chosen)
    assert isinstance(source, BlockSource if blocks else Source)
    assert source.format == kind


@pytest.mark.parametrize(
    ("kind", "read_as", "message"),
    [
        ("jsonl", "blocks", "jsonl inputs are read as rows; use read_as: rows or auto"),
        ("numpy", "rows", "numpy inputs are read as blocks; use read_as: blocks or auto"),
    ],
)
def test_a_way_of_reading_the_format_lacks_is_refused(
    kind: str, read_as: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        INPUTS[kind].reads_blocks(read_as, True)


def test_outputs_say_what_they_leave() -> None:
    assert OUTPUTS["jsonl"].written("out/r.jsonl") == "out/r.jsonl"
    assert OUTPUTS["parquet"].written("out/r") == "out/r-*.parquet"
    assert OUTPUTS["predictionlog"].written("out/logs") == "out/logs-*-of-*"
    assert [name for name, entry in OUTPUTS.items() if entry.record_fields] == ["jsonl"]


def test_failures_go_next_to_the_output() -> None:
    assert failures_path("out/r.jsonl") == "out/r.failures.jsonl"
    assert failures_path("out/r") == "out/r.failures.jsonl"
