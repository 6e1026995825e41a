"""The file formats: one record per format, read by spec validation, the readers, the writers
and the command line alike.

An input format says which suffixes name it, whether it is read one element per record (rows),
as columns (blocks) or both, whether its files state their fields ahead, and how to count its
records. An output format says what it writes at a path (one file, or part files named after
it) and whether node names become fields of a record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from ..core.errors import ConfigError
from . import counts, file_fields
from .columnar import BlockSource, ColumnarFormat
from .sources import Format, Source

InputFormatName = Literal["jsonl", "csv", "tfrecord", "parquet", "arrow", "numpy"]
OutputFormatName = Literal["jsonl", "parquet", "predictionlog"]
ReadAs = Literal["auto", "rows", "blocks"]
Example = Literal["serialized", "features"]


@dataclass(frozen=True)
class InputFormat:
    """A format inputs are read from.

    Attributes:
        name: Its name in specs and on the command line.
        description: What a file of it holds, for help texts and the spec's schema.
        suffixes: The file suffixes that name it (``.gz`` is read through).
        rows: Whether it can be read one element per record.
        blocks: Whether it can be read as blocks (columns of records).
        count: The records of one local file.
        fields: The fields a file states before its records; ``None`` where each record has
            its own (JSONL, TFRecord).
        local_path: Whether a local file is read from its path (memory-mapped) rather than
            from an opened stream.
    """

    name: str
    description: str
    suffixes: tuple[str, ...]
    rows: bool
    blocks: bool
    count: Callable[[str], int]
    fields: Callable[[str], list[str] | None] | None = None
    local_path: bool = False

    def reads_blocks(self, read_as: ReadAs, graph_takes_blocks: bool) -> bool:
        """Whether an input read ``read_as`` is read as blocks; ``auto`` reads blocks where
        the format has no rows, or where it has both and ``graph_takes_blocks``.

        Raises:
            ConfigError: ``read_as`` asks for what the format cannot be read as.
        """
        if read_as == "blocks" and not self.blocks:
            raise ConfigError(f"{self.name} inputs are read as rows; use read_as: rows or auto")
        if read_as == "rows" and not self.rows:
            raise ConfigError(f"{self.name} inputs are read as blocks; use read_as: blocks or auto")
        if not (self.rows and self.blocks):
            return self.blocks
        return read_as == "blocks" or (read_as == "auto" and graph_takes_blocks)


@dataclass(frozen=True)
class OutputFormat:
    """A format results are written in.

    Attributes:
        name: Its name in specs and on the command line.
        description: What a file of it holds.
        parts: ``None`` for one file at the output's path; else a regular expression of what
            follows the path in the names of the part files it writes.
        parts_glob: The glob of those part files after the path.
        record_fields: Whether each output node is a field of a record beside the record's own
            fields (which node names must then not take).
    """

    name: str
    description: str
    parts: str | None = None
    parts_glob: str = ""
    record_fields: bool = False

    def written(self, path: str) -> str:
        """The file (or glob of part files) an output written at ``path`` leaves."""
        return path + self.parts_glob


INPUTS: dict[str, InputFormat] = {
    entry.name: entry
    for entry in (
        InputFormat(
            "jsonl",
            "one object per line",
            (".jsonl", ".json", ".ndjson"),
            rows=True,
            blocks=False,
            count=counts.lines,
        ),
        InputFormat(
            "csv",
            "a header row",
            (".csv",),
            rows=True,
            blocks=True,
            count=counts.csv_rows,
            fields=file_fields.csv_fields,
        ),
        InputFormat(
            "tfrecord",
            "serialized tf.train.Example records",
            (".tfrecord", ".tfrecords"),
            rows=True,
            blocks=True,
            count=counts.tfrecord_records,
        ),
        InputFormat(
            "parquet",
            "columns",
            (".parquet", ".pq"),
            rows=False,
            blocks=True,
            count=counts.parquet_rows,
            fields=file_fields.parquet_fields,
            local_path=True,
        ),
        InputFormat(
            "arrow",
            "an IPC file or stream",
            (".arrow", ".feather", ".ipc"),
            rows=False,
            blocks=True,
            count=counts.arrow_rows,
            fields=file_fields.arrow_fields,
        ),
        InputFormat(
            "numpy",
            ".npy, .npz",
            (".npy", ".npz"),
            rows=False,
            blocks=True,
            count=counts.numpy_file_rows,
            fields=file_fields.numpy_fields,
        ),
    )
}
"""The input formats by name."""

OUTPUTS: dict[str, OutputFormat] = {
    entry.name: entry
    for entry in (
        OutputFormat(
            "jsonl",
            "one object per input: key, one field per output node, status, failures, lineage",
            record_fields=True,
        ),
        OutputFormat(
            "parquet",
            "columns: key, one per output node, status",
            parts=r"-[0-9a-f]{12}\.parquet",
            parts_glob="-*.parquet",
        ),
        OutputFormat(
            "predictionlog",
            "TFRecord of tensorflow_serving PredictionLog, one per output node and element",
            parts=r"-\d{5}-of-\d{5}",  # Beam's shard names
            parts_glob="-*-of-*",
        ),
    )
}
"""The output formats by name."""


def described(formats: dict[str, InputFormat] | dict[str, OutputFormat]) -> str:
    """``jsonl (one object per line), csv (a header row) ...``: the formats for a help text."""
    return ", ".join(f"{entry.name} ({entry.description})" for entry in formats.values())


def format_of(path: str) -> str | None:
    """The input format ``path`` (a file or a glob) names by its suffix; ``None`` if none."""
    lowered = path.lower().removesuffix(".gz")
    for entry in INPUTS.values():
        if lowered.endswith(entry.suffixes):
            return entry.name
    return None


def fields_of(kind: str, path: str) -> list[str] | None:
    """The fields of the records of the local file ``path`` in format ``kind``.

    ``None`` when the format does not state them ahead (jsonl, tfrecord) or the file cannot be
    read as that format: the run's reader then reports the problem, record by record.
    """
    read = INPUTS[kind].fields if kind in INPUTS else None
    return None if read is None else file_fields.fields_or_none(read, path)


def records_in(kind: str, path: str) -> int | None:
    """The records of the local file ``path`` in format ``kind``; ``None`` if it cannot be
    counted."""
    return counts.count_or_none(INPUTS[kind].count, path)


def reader(
    kind: str,
    *,
    blocks: bool,
    key_field: str | None = None,
    input_field: str | None = None,
    block_rows: int = 10_000,
    example: Example = "serialized",
) -> Source | BlockSource:
    """The reader of format ``kind``: rows, or blocks of ``block_rows`` records."""
    if blocks:
        return BlockSource(
            cast(ColumnarFormat, kind),
            key_field,
            input_field,
            block_rows,
            "serialized" if example == "serialized" else "features",
        )
    return Source(cast(Format, kind), key_field, input_field, example)


def failures_path(output: str) -> str:
    """The default failures file for an output: its name with ``.failures.jsonl``."""
    for suffix in (".jsonl", ".json", ".tfrecord"):
        if output.endswith(suffix):
            return output[: -len(suffix)] + ".failures.jsonl"
    return output + ".failures.jsonl"
