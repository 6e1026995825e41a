"""Running a graph from files to files on Beam, with live progress and a summary at the end."""

from __future__ import annotations

import glob
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from ..core.results import Failure
from ..graph.graph import Graph
from ..io.columnar import BlockSource
from ..io.sources import Source
from . import s3_fix
from .files import JsonlSink, ParquetSink, ReadRecords, Sink, write_failures
from .graph import RunGraph, namespace
from .local_runner import local_runner
from .staging import discard, parts, publish, run_id, stage


@dataclass(frozen=True)
class NodeSummary:
    """What one node did in a run.

    Attributes:
        elements: Elements it ran on.
        failures: Elements it failed (failures of upstream nodes are not counted here).
        skipped: Elements that did not reach it.
        model_calls: Calls of the model (model nodes).
        latency_us: Mean microseconds per element it ran on (its whole step, batching included).
    """

    name: str
    elements: int
    failures: int
    skipped: int
    model_calls: int
    latency_us: float


@dataclass(frozen=True)
class RunSummary:
    """What a run did: elements by result status, wall time, and each node's counts."""

    ok: int
    partial: int
    failed: int
    skipped: int
    wall_s: float
    nodes: tuple[NodeSummary, ...]

    @property
    def elements(self) -> int:
        """Every input element (each ends in exactly one status)."""
        return self.ok + self.partial + self.failed + self.skipped

    @property
    def predictions(self) -> int:
        """Elements with at least one output value (``ok`` and ``partial``)."""
        return self.ok + self.partial


class Counter:
    """A thread-safe count of finished elements that a progress display reads.

    Only runners that execute in this process (the DirectRunner, in-process modes) update it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, n: int = 1) -> None:
        """Count ``n`` more elements."""
        with self._lock:
            self.value += n


PROGRESS = Counter()
"""Finished elements of the run in progress in this process."""


def run_graph_files(
    graph: Graph,
    *,
    inputs: Sequence[tuple[Source | BlockSource, str]],
    sinks: Sequence[Sink],
    failures_path: str,
    failure_record: Callable[[Failure], dict[str, Any]],
    pipeline_args: Sequence[str] = (),
) -> RunSummary:
    """Read ``inputs``, run ``graph`` on Beam, write results to ``sinks`` and failures as JSONL.

    Args:
        graph: The graph (validated before the pipeline is built).
        inputs: ``(source, path or glob)`` pairs, read and flattened.
        sinks: Where results go. Outputs of part files (Parquet, PredictionLog) are written to a
            staging directory and replace the output's earlier parts only when the run
            succeeds (see :mod:`infergraph.beam.staging`).
        failures_path: The JSON lines file of failed elements.
        failure_record: The JSON object written per failure.
        pipeline_args: Beam pipeline options (``--runner`` and the rest).
    """
    graph.validate()
    s3_fix.install()
    start = time.monotonic()
    options = PipelineOptions(list(pipeline_args))
    FileSystems.set_options(options)  # before the pipeline: outputs are staged and checked first
    paths = [sink.path for sink in sinks] + [failures_path]
    before = _beam_temp_dirs(paths)
    stored_before = _beam_temp_objects(paths)
    run = run_id()
    staged = [stage(sink, run) for sink in sinks]
    try:
        pipeline = _run(
            graph,
            inputs=inputs,
            sinks=staged,
            failures_path=failures_path,
            failure_record=failure_record,
            options=options,
        )
    except BaseException:
        for sink in staged:
            discard(sink)
        raise
    finally:
        # Beam leaves its temporary directories after a failed or interrupted run, and the Dask
        # runner after every run (it computes a sink's steps more than once, and one of them
        # holds a copy of the results that a glob over the output directory would read).
        for directory in _beam_temp_dirs(paths) - before:
            shutil.rmtree(directory, ignore_errors=True)
        left = sorted(_beam_temp_objects(paths) - stored_before)
        if left:
            FileSystems.delete(left)
    for new, sink in zip(staged, sinks, strict=True):
        publish(new, sink)
    wall_s = time.monotonic() - start
    client = getattr(pipeline.result, "client", None)  # a Dask run's client: let it go
    if client is not None:
        client.close()
    try:
        return summarize(pipeline.result, graph, wall_s)
    except NotImplementedError:  # a runner that reports no metrics (Dask): read the files
        return summarize_files(sinks, failures_path, wall_s)


def _run(
    graph: Graph,
    *,
    inputs: Sequence[tuple[Source | BlockSource, str]],
    sinks: Sequence[Sink],
    failures_path: str,
    failure_record: Callable[[Failure], dict[str, Any]],
    options: PipelineOptions,
) -> beam.Pipeline:
    """Build and run the pipeline; the pipeline, run."""
    with beam.Pipeline(runner=local_runner(options), options=options) as pipeline:
        read = [
            pipeline | f"Read[{i}]" >> ReadRecords(source, path)
            for i, (source, path) in enumerate(inputs)
        ]
        elements = read[0] if len(read) == 1 else tuple(read) | "Inputs" >> beam.Flatten()
        results, failures = elements | RunGraph(graph).with_exception_handling()
        results = results | "CountResults" >> beam.ParDo(_Tick())
        failures = failures | "CountFailures" >> beam.ParDo(_Tick())
        written = [results | f"Write[{i}]" >> sink.transform() for i, sink in enumerate(sinks)]
        written.append(failures | "WriteFailures" >> write_failures(failures_path, failure_record))
        # One last transform that depends on every write: the Dask runner computes only the
        # graph of the last transform applied, and would drop the other writes.
        _ = tuple(written) | "Done" >> beam.Flatten()
    return pipeline


def _beam_temp_dirs(paths: Sequence[str]) -> set[str]:
    """Beam's temporary directories (``beam-temp-<name>-<id>``) for local output ``paths``."""
    found: set[str] = set()
    for path in paths:
        if "://" not in path:
            pattern = f"beam-temp-{glob.escape(os.path.basename(path))}-*"
            found.update(glob.glob(os.path.join(glob.escape(os.path.dirname(path)), pattern)))
    return found


def _beam_temp_objects(paths: Sequence[str]) -> set[str]:
    """The objects under Beam's temporary prefixes (``beam-temp-<name>-<id>/``) for output
    ``paths`` on an object store (URLs)."""
    found: set[str] = set()
    for path in paths:
        if "://" in path:
            directory, name = FileSystems.split(path)
            pattern = FileSystems.join(directory, f"beam-temp-{name}-**")
            for result in FileSystems.match([pattern]):
                found.update(meta.path for meta in result.metadata_list)
    return found


class _Tick(beam.DoFn):
    def process(self, element: Any) -> Iterator[Any]:
        PROGRESS.add()
        yield element


def summarize(result: Any, graph: Graph, wall_s: float) -> RunSummary:
    """The run's summary from its Beam metrics."""
    statuses = _counters(result, namespace(graph.name))
    nodes = []
    for name in graph.nodes:
        counters = _counters(result, namespace(graph.name, name))
        latency = _distribution_sum(result, namespace(graph.name, name), "node_latency_us")
        elements = counters.get("elements", 0)
        nodes.append(
            NodeSummary(
                name,
                elements,
                counters.get("failures", 0),
                counters.get("skipped", 0),
                counters.get("model_calls", 0),
                latency / elements if elements else 0.0,
            )
        )
    return RunSummary(
        statuses.get("ok", 0),
        statuses.get("partial", 0),
        statuses.get("failed", 0),
        statuses.get("skipped", 0),
        wall_s,
        tuple(nodes),
    )


def summarize_files(sinks: Sequence[Sink], failures_path: str, wall_s: float) -> RunSummary:
    """The run's summary from the files it wrote (local JSONL and Parquet outputs), for runners
    without metrics; node counts are unknown (none)."""
    statuses: dict[str, int] = {}
    for sink in sinks:
        if isinstance(sink, JsonlSink) and "://" not in sink.path:
            with open(sink.path, encoding="utf-8") as stream:
                for line in stream:
                    status = json.loads(line).get("status", "ok")
                    statuses[status] = statuses.get(status, 0) + 1
            break
        if isinstance(sink, ParquetSink) and "://" not in sink.path:
            files = parts(sink.path, ParquetSink.PARTS or "")
            for status in pq.read_table(files, columns=["status"]).column("status").to_pylist():
                statuses[status] = statuses.get(status, 0) + 1
            break
    failed = 0
    if "://" not in failures_path:
        with open(failures_path, encoding="utf-8") as stream:
            failed = sum(1 for line in stream if line.strip())
    return RunSummary(
        statuses.get("ok", 0),
        statuses.get("partial", 0),
        failed,
        statuses.get("skipped", 0),
        wall_s,
        (),
    )


def _counters(result: Any, namespace: str) -> dict[str, int]:
    query = result.metrics().query(MetricsFilter().with_namespace(namespace))
    return {c.key.metric.name: _value(c) for c in query["counters"]}


def _distribution_sum(result: Any, namespace: str, name: str) -> float:
    query = result.metrics().query(MetricsFilter().with_namespace(namespace).with_name(name))
    return float(sum(_value(d).sum for d in query["distributions"]))


def _value(metric: Any) -> Any:
    return metric.committed if metric.committed is not None else metric.attempted
