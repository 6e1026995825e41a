"""The ``infergraph predict`` pipeline: JSONL in, predictions and failures as JSONL out."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pvalue import TaggedOutput

from ..core.errors import InputError
from ..core.execute import AnyHandler
from ..core.records import parse_line, result_record
from ..core.results import Failure, Result
from .metrics import namespace
from .transform import FAILURES, RunInference

logger = logging.getLogger("infergraph")


@dataclass(frozen=True)
class JsonlSummary:
    """What a JSONL run wrote."""

    predictions: int
    failures: int
    output: str
    failures_output: str


def run_jsonl(
    handler: AnyHandler,
    *,
    input_path: str,
    output_path: str,
    failures_path: str,
    key_field: str | None = None,
    pipeline_args: Sequence[str] = (),
) -> JsonlSummary:
    """Run ``handler`` over a JSONL file on Beam (the DirectRunner unless args say otherwise)."""
    options = PipelineOptions(list(pipeline_args))
    node = handler.model_id
    with beam.Pipeline(options=options) as pipeline:
        parsed = (
            pipeline
            | "Read" >> beam.io.ReadFromText(input_path)
            | "Parse"
            >> beam.ParDo(_ParseLine(key_field, node)).with_outputs(FAILURES, main="examples")
        )
        keyed = key_field is not None
        predictions, failures = (
            parsed["examples"] | RunInference(handler, keyed=keyed).with_exception_handling()
        )
        every_failure = (parsed[FAILURES], failures) | "AllFailures" >> beam.Flatten()
        _ = (
            predictions
            | "FormatPredictions" >> beam.ParDo(_Format(key_field, node, "predictions"))
            | "WritePredictions" >> beam.io.WriteToText(output_path, shard_name_template="")
        )
        _ = (
            every_failure
            | "FormatFailures" >> beam.ParDo(_Format(key_field, node, "failures"))
            | "WriteFailures" >> beam.io.WriteToText(failures_path, shard_name_template="")
        )
    result = pipeline.result
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace(_cli_namespace(node)))[
            "counters"
        ]
    }
    return JsonlSummary(
        predictions=counters.get("predictions", 0),
        failures=counters.get("failures", 0),
        output=output_path,
        failures_output=failures_path,
    )


def _cli_namespace(node: str) -> str:
    return namespace(node) + ".jsonl"


class _ParseLine(beam.DoFn):
    def __init__(self, key_field: str | None, node: str) -> None:
        self.key_field = key_field
        self.node = node

    def process(self, line: str) -> Iterator[Any]:
        try:
            key, example = parse_line(line, self.key_field)
        except InputError as exc:
            yield TaggedOutput(
                FAILURES,
                Failure(line, None, "input", self.node, type(exc).__name__, f"bad line: {exc}"),
            )
            return
        yield (key, example) if self.key_field is not None else example


class _Format(beam.DoFn):
    """Writes one JSON line per result, counts them, and logs progress every 30 seconds."""

    def __init__(self, key_field: str | None, node: str, what: str) -> None:
        self.key_field = key_field
        self.node = node
        self.what = what

    def setup(self) -> None:
        self._counter = Metrics.counter(_cli_namespace(self.node), self.what)
        self._seen = 0
        self._start = self._last = time.monotonic()

    def process(self, result: Result) -> Iterator[str]:
        self._counter.inc()
        self._seen += 1
        now = time.monotonic()
        if now - self._last >= 30:
            self._last = now
            rate = self._seen / (now - self._start)
            logger.info("%s: %d %s written (%.0f/s)", self.node, self._seen, self.what, rate)
        yield json.dumps(result_record(result, self.key_field))
