from __future__ import annotations

from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

import infergraph as ig
from infergraph.testing import outputs_equal, run_on_beam
from tests.core.handlers import ScaleHandler


def test_keyed_and_unkeyed_elements(five_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(five_onnx))
    results = run_on_beam(handler, [("a", [105.0]), [108.0], ("c", [1000.0])])
    by_value = sorted((float(r.output[0]), r.key) for r in results)
    assert by_value == [(525.0, "a"), (540.0, None), (5000.0, "c")]


def test_same_results_as_in_process(two_outputs_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(two_outputs_onnx), max_batch_size=4)
    rng = np.random.default_rng(1)
    data = [(f"k{i}", rng.standard_normal(3).astype(np.float32)) for i in range(25)]
    data += [("bad", np.ones(4)), ("blk", ig.Block(rng.standard_normal((9, 3))))]
    local = {r.key: r for r in ig.predict(handler, data)}
    remote = {r.key: r for r in run_on_beam(handler, data)}
    assert local.keys() == remote.keys() == {key for key, _ in data}
    for key, result in local.items():
        other = remote[key]
        assert type(result) is type(other), key
        if isinstance(result, ig.Prediction):
            assert outputs_equal(result.output, other.output), key
        else:
            assert (result.stage, result.error_type) == (other.stage, other.error_type)
    assert isinstance(local["bad"], ig.Failure)


def test_count_conservation_with_failures() -> None:
    handler = ScaleHandler(reject=3.0, max_batch_size=5)
    data = [(i, float(i % 7)) for i in range(100)]
    results = run_on_beam(handler, data)
    assert sorted(r.key for r in results) == list(range(100))
    failures = [r for r in results if isinstance(r, ig.Failure)]
    assert sorted(f.key for f in failures) == [i for i in range(100) if i % 7 == 3]


def test_metrics_are_read_back_from_the_pipeline(five_onnx: Path) -> None:
    handler = ig.handler("onnx", path=str(five_onnx), model_id="five")
    pipeline = beam.Pipeline(runner="DirectRunner")
    _ = (
        pipeline
        | beam.Create([("a", [1.0]), ("b", [2.0]), ("c", "x"), ("blk", ig.Block(np.ones((6, 1))))])
        | ig.RunInference(handler).with_exception_handling()
    )
    result = pipeline.run()
    result.wait_until_finish()
    metrics = result.metrics().query(MetricsFilter().with_namespace("infergraph.five"))
    counters = {c.key.metric.name: c.committed for c in metrics["counters"]}
    distributions = {d.key.metric.name: d.committed for d in metrics["distributions"]}
    assert counters["inferences"] == 2 + 6
    assert counters["failures"] == 1
    assert counters["model_calls"] >= 2
    assert distributions["load_time_ms"].count >= 1
    assert distributions["batch_size"].max == 6
    assert distributions["batch_latency_us"].count == counters["model_calls"]


def test_metrics_of_batches_run_one_ahead_are_all_counted(five_onnx: Path) -> None:
    # 30 batches: all but the last run on the worker thread (core.ahead), where Beam would not
    # count a metric; the DoFn reports them from its own thread.
    handler = ig.handler("onnx", path=str(five_onnx), model_id="five", max_batch_size=100)
    pipeline = beam.Pipeline(runner="DirectRunner")
    _ = (
        pipeline
        | beam.Create([0])
        | beam.FlatMap(lambda _: ((i, [float(i)]) for i in range(3000)))
        | ig.RunInference(handler)
    )
    result = pipeline.run()
    result.wait_until_finish()
    metrics = result.metrics().query(MetricsFilter().with_namespace("infergraph.five"))
    counters = {c.key.metric.name: c.committed for c in metrics["counters"]}
    distributions = {d.key.metric.name: d.committed for d in metrics["distributions"]}
    assert counters["inferences"] == 3000
    assert counters["model_calls"] == 30
    assert distributions["batch_size"].count == 30 and distributions["batch_size"].sum == 3000


def test_without_exception_handling_a_failure_stops_the_pipeline() -> None:
    with (
        pytest.raises(ig.InferenceFailedError, match=r"in stage 'run'") as info,
        beam.Pipeline(runner="DirectRunner") as pipeline,
    ):
        _ = (
            pipeline
            | beam.Create([("ok", 1.0), ("bad", 3.0)])
            | ig.RunInference(ScaleHandler(reject=3.0))
        )
    assert "key='bad'" in str(info.value)
    assert "with_exception_handling()" in str(info.value)


def test_keyed_true_routes_unpaired_elements_to_failures() -> None:
    results = run_on_beam(ScaleHandler(), [("a", 1.0), 2.0], keyed=True)
    failures = [r for r in results if isinstance(r, ig.Failure)]
    assert len(results) == 2 and len(failures) == 1
    assert failures[0].stage == "input"


def test_max_batch_duration_is_the_streaming_maximum_delay() -> None:
    handler = ScaleHandler(max_batch_duration_s=0.5, max_batch_size=4)
    results = run_on_beam(handler, [(i, float(i)) for i in range(10)])
    assert sorted((r.key, float(r.output)) for r in results) == [(i, 2.0 * i) for i in range(10)]

    cases = [
        (PipelineOptions(streaming=True), ig.RunInference(handler), 0.5),
        (PipelineOptions(streaming=True), ig.RunInference(handler, max_delay_s=0.1), 0.1),
        (PipelineOptions(), ig.RunInference(handler), None),  # bounded, global window
    ]
    for options, transform, delay in cases:
        pipeline = beam.Pipeline(options=options)
        _ = pipeline | beam.Create([1.0]) | transform
        dofns: list[Any] = []
        pipeline.visit(_DoFns(dofns))
        (run,) = [dofn for dofn in dofns if type(dofn).__name__.startswith("_Segment")]
        assert getattr(run, "delay", None) == delay, type(run).__name__


class _DoFns(beam.pipeline.PipelineVisitor):
    def __init__(self, dofns: list[Any]) -> None:
        self.dofns = dofns

    def visit_transform(self, node: beam.pipeline.AppliedPTransform) -> None:
        if isinstance(node.transform, beam.ParDo):
            self.dofns.append(node.transform.fn)
