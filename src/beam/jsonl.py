"""The ``infergraph predict`` pipeline: JSONL in, predictions and failures as JSONL out."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
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
    predictions_sink: Callable[[str], Any] | None = None,
) -> JsonlSummary:
    """Run ``handler`` over a JSONL file on Beam (the DirectRunner unless args say otherwise).

    Args:
        handler: The handler to run.
        input_path: JSONL input, one object per line.
        output_path: Where predictions go (JSONL unless ``predictions_sink`` says otherwise).
        failures_path: Where failures go, as JSONL.
        key_field: The field holding each line's key; ``None`` for unkeyed lines.
        pipeline_args: Beam pipeline options (``--runner`` and so on).
        predictions_sink: Builds the transform that writes predictions to ``output_path``
            (for example TFRecord PredictionLogs); JSONL by default.
    """
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
        counted = predictions | "CountPredictions" >> beam.ParDo(_Count(node, "predictions"))
        if predictions_sink is not None:
            _ = counted | "WritePredictions" >> predictions_sink(output_path)
        else:
            _ = (
                counted
                | "FormatPredictions" >> beam.Map(_json_line, key_field)
                | "WritePredictions" >> beam.io.WriteToText(output_path, shard_name_template="")
            )
        _ = (
            every_failure
            | "CountFailures" >> beam.ParDo(_Count(node, "failures"))
            | "FormatFailures" >> beam.Map(_json_line, key_field)
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


def _json_line(result: Result, key_field: str | None) -> str:
    return json.dumps(result_record(result, key_field))


class _Count(beam.DoFn):
    """Counts results as they pass and logs progress every 30 seconds."""

    def __init__(self, node: str, what: str) -> None:
        self.node = node
        self.what = what

    def setup(self) -> None:
        self._counter = Metrics.counter(_cli_namespace(self.node), self.what)
        self._seen = 0
        self._start = self._last = time.monotonic()

    def process(self, result: Result) -> Iterator[Result]:
        self._counter.inc()
        self._seen += 1
        now = time.monotonic()
        if now - self._last >= 30:
            self._last = now
            rate = self._seen / (now - self._start)
            logger.info("%s: %d %s (%.0f/s)", self.node, self._seen, self.what, rate)
        yield result
