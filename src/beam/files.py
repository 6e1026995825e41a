"""Beam IO for graphs: read input files into elements, write results and failures to files.

Files are read whole by one worker each (after a reshuffle of the file names), so every
failure can name its line or record number; split a large input into several files to read it
in parallel. Any Beam filesystem works (local, ``gs://``, ``s3://`` with the right extras).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from ..core.errors import ConfigError
from ..core.graph.state import GraphResult
from ..core.records import dumps
from ..core.results import Failure, Prediction
from ..core.sources import Source


class ReadRecords(beam.PTransform):  # type: ignore[type-arg]
    """Elements (and input failures) from every file matching ``pattern``, read with ``source``."""

    def __init__(self, source: Source, pattern: str) -> None:
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

    Raises:
        ConfigError: nothing matches.
    """
    results = FileSystems.match([pattern])
    paths = sorted(meta.path for result in results for meta in result.metadata_list)
    if not paths:
        raise ConfigError(f"no input file matches {pattern!r}")
    return paths


class _ReadFile(beam.DoFn):
    def __init__(self, source: Source) -> None:
        self.source = source

    def process(self, path: str) -> Iterator[Any]:
        with FileSystems.open(path) as stream:
            yield from self.source.read(stream, path)


@dataclass(frozen=True)
class JsonlSink:
    """Results as JSON lines, one object per element, made by ``record``."""

    path: str
    record: Callable[[GraphResult], dict[str, Any]]

    def transform(self) -> Any:
        """The PTransform writing a PCollection of results."""
        return beam.Map(_json_line, self.record) | beam.io.WriteToText(
            self.path, shard_name_template=""
        )


@dataclass(frozen=True)
class PredictionLogSink:
    """Results as TFRecord files of ``tensorflow_serving`` PredictionLogs, one per output node
    with a value and element (the request holds the graph's input)."""

    path: str
    nodes: Sequence[str]

    def transform(self) -> Any:
        """The PTransform writing a PCollection of results."""
        return beam.FlatMap(_prediction_logs, tuple(self.nodes)) | beam.io.WriteToTFRecord(
            self.path
        )


def write_failures(path: str, record: Callable[[Failure], dict[str, Any]]) -> Any:
    """The PTransform writing failures as JSON lines to ``path``."""
    return beam.Map(_json_line, record) | beam.io.WriteToText(path, shard_name_template="")


def _json_line(value: Any, record: Callable[[Any], dict[str, Any]]) -> str:
    return dumps(record(value))


def _prediction_logs(result: GraphResult, nodes: tuple[str, ...]) -> Iterator[bytes]:
    from ..handlers.tensorflow.tfx import to_prediction_log

    for name in nodes:
        if name in result.values:
            prediction = Prediction(result.example, result.values[name], name, result.key)
            yield bytes(to_prediction_log(prediction, model_name=name).SerializeToString())
