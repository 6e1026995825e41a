"""Beam IO for graphs: read input files into elements, write results and failures to files.

Files are read whole by one worker each (after a reshuffle of the file names), so every
failure can name its line or record number; split a large input into several files to read it
in parallel. Any Beam filesystem works (local, ``gs://``, ``s3://`` with the right extras).
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from ..core.errors import ConfigError, InputError
from ..core.results import Failure, Prediction
from ..graph.block_state import BlockResult, row_of
from ..graph.records import GraphRecords, dumps
from ..graph.tables import concat, conform, results_table
from ..handlers.tensorflow.tfx import to_prediction_log
from ..io.columnar import BlockSource
from ..io.formats import INPUTS, OUTPUTS
from ..io.sources import Source
from . import s3_fix
from .staging import published_path


class ReadRecords(beam.PTransform):  # type: ignore[type-arg]
    """Elements (and input failures) from every file matching ``pattern``, read with ``source``
    (a row source, or a block source that yields keyed blocks)."""

    def __init__(self, source: Source | BlockSource, pattern: str) -> None:
        super().__init__()
        self.source = source
        self.pattern = pattern

    def expand(self, pbegin: Any) -> Any:
        return (
            pbegin
            | "Pattern" >> beam.Create([self.pattern])
            | "Match" >> beam.FlatMap(match_files)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.ParDo(_ReadFile(self.source))
        )


def match_files(pattern: str) -> list[str]:
    """The files matching ``pattern`` (a path or a glob, on any Beam filesystem).

    A local pattern is made absolute first: Beam's local filesystem matches nothing for a bare
    relative glob (``part-*.jsonl``, where ``./part-*.jsonl`` works).

    Raises:
        ConfigError: nothing matches.
    """
    local = "://" not in pattern
    results = FileSystems.match([os.path.abspath(pattern) if local else pattern])
    paths = sorted(meta.path for result in results for meta in result.metadata_list)
    if not paths:
        raise ConfigError(f"no input file matches {pattern!r}")
    return paths


class _ReadFile(beam.DoFn):
    def __init__(self, source: Source | BlockSource) -> None:
        self.source = source

    def setup(self) -> None:
        s3_fix.install()

    def process(self, path: str) -> Iterator[Any]:
        if _native(self.source, path):  # a local columnar file: Arrow reads it, memory-mapped
            yield from self.source.read_path(path)  # type: ignore[union-attr]
            return
        try:
            with FileSystems.open(path) as stream:
                yield from self.source.read(stream, path)
        except (OSError, EOFError, zlib.error) as exc:  # a corrupt .gz file, say
            raise InputError(
                f"{path}: cannot be read: {exc}; check that the file is whole (and that a .gz "
                "file is gzip-compressed)"
            ) from exc


def _native(source: Source | BlockSource, path: str) -> bool:
    local = INPUTS[source.format].local_path and "://" not in path
    return local and isinstance(source, BlockSource)


@dataclass(frozen=True)
class JsonlSink:
    """Results as JSON lines: ``records`` makes the objects of one result (one per element,
    one per row of a block)."""

    path: str
    records: Callable[[Any], Iterable[dict[str, Any]]]
    PARTS: ClassVar[str | None] = None  # one file (see beam/staging.py)

    def transform(self) -> Any:
        """The PTransform writing a PCollection of results."""
        return beam.FlatMap(_json_lines, self.records) | beam.io.WriteToText(
            self.path, shard_name_template=""
        )


@dataclass(frozen=True)
class PredictionLogSink:
    """Results as TFRecord files of ``tensorflow_serving`` PredictionLogs, one per output node
    with a value and element (the request holds the graph's input)."""

    path: str
    nodes: Sequence[str]
    PARTS: ClassVar[str | None] = OUTPUTS["predictionlog"].parts

    def transform(self) -> Any:
        """The PTransform writing a PCollection of results."""
        return beam.FlatMap(_prediction_logs, tuple(self.nodes)) | beam.io.WriteToTFRecord(
            self.path
        )


@dataclass(frozen=True)
class ParquetSink:
    """Results as Parquet files ``<path>-<part>.parquet`` (see :mod:`infergraph.graph.tables`);
    ``<part>``: 12 hex digits."""

    path: str
    nodes: Sequence[str]
    PARTS: ClassVar[str | None] = OUTPUTS["parquet"].parts

    def transform(self) -> Any:
        """The PTransform writing a PCollection of results."""
        return (
            beam.BatchElements(min_batch_size=1, max_batch_size=4096, element_size_fn=_rows)
            | beam.Filter(bool)  # BatchElements emits an empty batch before an oversized element
            | beam.Map(results_table, tuple(self.nodes))
            | beam.ParDo(_WriteParquet(self.path))
        )


def _rows(result: Any) -> int:
    return int(result.rows) if isinstance(result, BlockResult) else 1


class _WriteParquet(beam.DoFn):
    """Writes the tables of a bundle to one Parquet file, on a thread of its own: the next block
    is computed while the last one is encoded and written (one write in flight at a time).

    A column with no value yet has Arrow's null type; tables are held back (up to
    ``HOLD_ROWS`` rows) until every column has a real type, so that one file has one schema.
    """

    HOLD_ROWS = 100_000

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def setup(self) -> None:
        s3_fix.install()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infergraph-parquet")

    def teardown(self) -> None:
        self._pool.shutdown(wait=True)

    def start_bundle(self) -> None:
        self._writer: Any = None
        self._sink: Any = None
        self._held: list[Any] = []
        self._writing: Future[None] | None = None

    def process(self, table: Any) -> None:
        if self._writer is None:
            self._held.append(table)
            if _has_null_columns(table) and sum(t.num_rows for t in self._held) < self.HOLD_ROWS:
                return
            self._open_and_write_held()
            return
        self._wait()
        table = conform(table, self._writer.schema, published_path(self.prefix))
        self._writing = self._pool.submit(self._writer.write_table, table)

    def finish_bundle(self) -> None:
        if self._writer is None and self._held:
            self._open_and_write_held()
        self._wait()
        if self._writer is not None:
            self._writer.close()
            self._sink.close()
        self._writer = self._sink = None

    def _wait(self) -> None:
        """Wait for the write in flight (and raise its error, if it failed)."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def _open_and_write_held(self) -> None:
        table = concat(self._held, published_path(self.prefix))
        self._held = []
        self._sink = FileSystems.create(f"{self.prefix}-{uuid.uuid4().hex[:12]}.parquet")
        # Dictionary encoding only where values repeat (status): on float columns it costs
        # several times the write and saves nothing.
        self._writer = pq.ParquetWriter(self._sink, table.schema, use_dictionary=["status"])
        self._writing = self._pool.submit(self._writer.write_table, table)


def _has_null_columns(table: Any) -> bool:
    return any(pa.types.is_null(field.type) for field in table.schema)


Sink = JsonlSink | ParquetSink | PredictionLogSink


def sink(kind: str, path: str, nodes: Sequence[str], order: Sequence[str]) -> Sink:
    """The sink writing an output of format ``kind`` at ``path``: the output ``nodes`` of results
    (``order``: the graph's steps, the order of a JSON record's lineage)."""
    if kind == "jsonl":
        return JsonlSink(path, GraphRecords(list(nodes), list(order)))
    if kind == "parquet":
        return ParquetSink(path, nodes)
    return PredictionLogSink(path, nodes)


def write_failures(path: str, record: Callable[[Failure], dict[str, Any]]) -> Any:
    """The PTransform writing failures as JSON lines to ``path``."""
    return beam.Map(_json_line, record) | beam.io.WriteToText(path, shard_name_template="")


def _json_line(value: Any, record: Callable[[Any], dict[str, Any]]) -> str:
    return dumps(record(value))


def _json_lines(value: Any, records: Callable[[Any], Iterable[dict[str, Any]]]) -> Iterator[str]:
    for record in records(value):
        yield dumps(record)


def _prediction_logs(result: Any, nodes: tuple[str, ...]) -> Iterator[bytes]:
    for key, example, values in _rows_of(result):
        for name in nodes:
            if name in values:
                prediction = Prediction(example, values[name], name, key)
                yield bytes(to_prediction_log(prediction, model_name=name).SerializeToString())


def _rows_of(result: Any) -> Iterator[tuple[Any, Any, dict[str, Any]]]:
    """``(key, example, values)`` of a result's element, or of each row of a block's."""
    if not isinstance(result, BlockResult):
        yield result.key, result.example, result.values
        return
    for row in range(result.rows):
        values = {
            name: row_of(column, row)
            for name, column in result.values.items()
            if result.valid[name][row]
        }
        yield result.row_key(row), result.example.row(row), values
