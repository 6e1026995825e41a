"""Streaming: every output keeps its element's timestamp and windows (Beam issue #22853 avoided).

The pipelines run on the DirectRunner in streaming mode from Beam's ``TestStream`` (elements,
watermark advances, processing-time advances), with a graph that has a chain and a branch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window
from apache_beam.transforms.window import IntervalWindow, TimestampedValue
from apache_beam.utils.windowed_value import WindowedValue

import infergraph as ig
from infergraph.beam.graph import Finish, Segment, _Context, _SegmentWindowedDoFn
from tests.core.handlers import ScaleHandler

# (key, value, event time): "bad" fails in every arm; 600 fails in the "scaled" arm only.
EVENTS = [
    ("a", 1.0, 1.0),
    ("b", 2.0, 4.0),
    ("c", 600.0, 9.0),
    ("bad", "not a number", 11.0),
    ("d", 3.0, 12.0),
    ("e", 4.0, 25.0),
]


def to_x(y: Any) -> np.ndarray:
    return np.asarray(y, dtype=np.float32).reshape(1)


def chain_and_branch(five: Path, ten: Path) -> ig.Graph:
    """input -> five -> to_x -> ten (a chain), and input -> scaled (a branch beside five)."""
    g = ig.Graph("stream")
    g.model("five", "onnx", path=str(five), max_batch_size=4)
    g.model("ten", "onnx", path=str(ten))
    g.model("scaled", ScaleHandler(factor=2.0, reject=600.0, model_id="scaled"))
    g.branch("five", "scaled")
    g.chain("five", to_x, "ten")
    g.outputs("ten", "scaled")
    return g


def streaming() -> PipelineOptions:
    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    return options


def events() -> EventStream:
    stream = EventStream()
    stream.add_elements([TimestampedValue((k, [v]), t) for k, v, t in EVENTS[:3]])
    stream.advance_processing_time(5)
    stream.advance_watermark_to(10)
    stream.add_elements([TimestampedValue((k, [v]), t) for k, v, t in EVENTS[3:5]])
    stream.advance_processing_time(5)
    stream.advance_watermark_to(20)
    stream.add_elements([TimestampedValue((k, [v]), t) for k, v, t in EVENTS[5:]])
    return stream.advance_watermark_to_infinity()


class Stamped(beam.DoFn):  # type: ignore[misc]
    """Each output as (key, what it holds, its timestamp, its window)."""

    def process(
        self,
        element: Any,
        timestamp: Any = beam.DoFn.TimestampParam,
        win: Any = beam.DoFn.WindowParam,
    ) -> Iterator[tuple[Any, ...]]:
        if isinstance(element, ig.Failure):
            held: Any = (element.node, element.stage)
        else:
            held = tuple(
                float(np.asarray(element.values[n]).ravel()[0]) if n in element.values else None
                for n in ("ten", "scaled")
            )
        yield element.key, held, float(timestamp), (float(win.start), float(win.end))


def expected(windows: list[tuple[float, float]] | None = None) -> tuple[list[Any], list[Any]]:
    results, failures = [], []
    for key, value, t in EVENTS:
        spans = windows if windows is not None else [(t // 10 * 10, t // 10 * 10 + 10)]
        for start, end in spans:
            if not start <= t < end:
                continue
            if key == "bad":
                failures.append((key, ("five", "run"), t, (start, end)))
                continue
            assert isinstance(value, float)
            scaled = None if value == 600.0 else 2 * value
            results.append((key, (50 * value, scaled), t, (start, end)))
    return results, failures


def run_windowed(graph: ig.Graph, into: Any) -> tuple[Any, Any, beam.Pipeline]:
    pipeline = beam.Pipeline(options=streaming())
    results, failures = (
        pipeline
        | events()
        | "Window" >> beam.WindowInto(into)
        | ig.RunGraph(graph).with_exception_handling()
    )
    stamped_results = results | "StampResults" >> beam.ParDo(Stamped())
    stamped_failures = failures | "StampFailures" >> beam.ParDo(Stamped())
    return stamped_results, stamped_failures, pipeline


def test_results_and_failures_keep_their_timestamps_in_fixed_windows(
    five_onnx: Path, ten_onnx: Path
) -> None:
    results, failures, pipeline = run_windowed(
        chain_and_branch(five_onnx, ten_onnx), window.FixedWindows(10)
    )
    want_results, want_failures = expected()
    assert_that(results, equal_to(want_results), label="Results")
    assert_that(failures, equal_to(want_failures), label="Failures")
    pipeline.run().wait_until_finish()


def test_sliding_windows_give_each_element_once_per_window(five_onnx: Path, ten_onnx: Path) -> None:
    results, failures, pipeline = run_windowed(
        chain_and_branch(five_onnx, ten_onnx), window.SlidingWindows(10, 5)
    )
    spans = [(float(s), float(s + 10)) for s in range(-5, 30, 5)]
    want_results, want_failures = expected(spans)
    assert len(want_results) == 2 * (len(EVENTS) - 1)  # every element lies in two windows
    assert_that(results, equal_to(want_results), label="Results")
    assert_that(failures, equal_to(want_failures), label="Failures")
    pipeline.run().wait_until_finish()


def test_event_time_aggregation_after_the_graph_sees_every_element_in_its_window(
    five_onnx: Path, ten_onnx: Path
) -> None:
    """Per-window sums after the graph: held or re-stamped outputs would land in the wrong
    window, or arrive late and be dropped."""
    graph = chain_and_branch(five_onnx, ten_onnx)
    pipeline = beam.Pipeline(options=streaming())
    results = (
        pipeline
        | events()
        | beam.WindowInto(window.FixedWindows(10))
        | ig.RunGraph(graph).with_exception_handling()
    )[0]
    sums = (
        results
        | beam.Map(lambda r: float(np.asarray(r.values["ten"]).ravel()[0]))
        | beam.CombineGlobally(sum).without_defaults()
        | beam.ParDo(_WindowStart())
    )
    assert_that(sums, equal_to([(50.0 + 100.0 + 30_000.0, 0.0), (150.0, 10.0), (200.0, 20.0)]))
    pipeline.run().wait_until_finish()


class _WindowStart(beam.DoFn):  # type: ignore[misc]
    def process(self, value: Any, win: Any = beam.DoFn.WindowParam) -> Iterator[Any]:
        yield value, float(win.start)


def test_session_windows_merge_after_the_graph(five_onnx: Path, ten_onnx: Path) -> None:
    graph = chain_and_branch(five_onnx, ten_onnx)
    pipeline = beam.Pipeline(options=streaming())
    results = (
        pipeline
        | events()
        | beam.WindowInto(window.Sessions(5))
        | ig.RunGraph(graph).with_exception_handling()
    )[0]
    sessions = (
        results
        | beam.Map(lambda r: ("all", r.key))
        | beam.GroupByKey()
        | beam.MapTuple(lambda _, keys: sorted(keys))
        | beam.ParDo(_WindowStart())
    )
    # Sessions with a gap of 5: a@1 and b@4 ([1, 9)), c@9 and d@12 ([9, 17)), e@25 alone.
    assert_that(sessions, equal_to([(["a", "b"], 1.0), (["c", "d"], 9.0), (["e"], 25.0)]))
    pipeline.run().wait_until_finish()


def test_run_inference_keeps_timestamps_in_a_stream() -> None:
    pipeline = beam.Pipeline(options=streaming())
    stream = (
        EventStream()
        .add_elements([TimestampedValue((f"k{t}", float(t)), t) for t in (3, 14, 15)])
        .advance_watermark_to_infinity()
    )
    predictions, failures = (
        pipeline
        | stream
        | beam.WindowInto(window.FixedWindows(10))
        | ig.RunInference(ScaleHandler(reject=15.0)).with_exception_handling()
    )
    stamped = predictions | "Predictions" >> beam.ParDo(_Timestamped())
    failed = failures | "Failures" >> beam.ParDo(_Timestamped())
    assert_that(stamped, equal_to([("k3", 3.0), ("k14", 14.0)]), label="Predictions")
    assert_that(failed, equal_to([("k15", 15.0)]), label="Failed")
    pipeline.run().wait_until_finish()


class _Timestamped(beam.DoFn):  # type: ignore[misc]
    def process(self, result: Any, timestamp: Any = beam.DoFn.TimestampParam) -> Iterator[Any]:
        yield result.key, float(timestamp)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def windowed_dofn(max_batch: int, delay: float | None) -> _SegmentWindowedDoFn:
    graph = ig.Graph.of_handler(ScaleHandler(max_batch_size=max_batch, model_id="scale"))
    context = _Context(graph.name, None, Finish.of(graph), "scale")
    dofn = _SegmentWindowedDoFn(Segment(tuple(graph.validate())), context, True, delay)
    dofn.setup()
    dofn.start_bundle()
    return dofn


def element(key: str, t: float) -> WindowedValue:
    return WindowedValue((key, t), t, (IntervalWindow(0, 100),))


def test_an_element_waits_no_longer_than_the_maximum_delay() -> None:
    dofn = windowed_dofn(max_batch=100, delay=2.0)
    clock = dofn.clock = FakeClock()  # type: ignore[method-assign]
    assert list(dofn.process(("a", 1.0), element("a", 1.0))) == []
    clock.now = 1.5
    assert list(dofn.process(("b", 2.0), element("b", 2.0))) == []
    clock.now = 2.0  # "a" has waited 2 s: the batch goes now, not at the bundle's end
    out = list(dofn.process(("c", 3.0), element("c", 3.0)))
    assert [(o.value.key, float(o.timestamp)) for o in out] == [
        ("a", 1.0),
        ("b", 2.0),
        ("c", 3.0),
    ]
    assert list(dofn.process(("d", 4.0), element("d", 4.0))) == []
    (last,) = dofn.finish_bundle()  # what is left goes when the bundle ends
    assert (last.value.key, float(last.timestamp)) == ("d", 4.0)
    assert list(dofn.finish_bundle()) == []


def test_without_a_delay_elements_wait_for_a_full_batch_or_the_bundle_end() -> None:
    dofn = windowed_dofn(max_batch=2, delay=None)
    dofn.clock = FakeClock()  # type: ignore[method-assign]
    assert list(dofn.process(("a", 1.0), element("a", 1.0))) == []
    full = list(dofn.process(("b", 2.0), element("b", 2.0)))
    assert [o.value.key for o in full] == ["a", "b"]
    assert list(dofn.process(("c", 3.0), element("c", 3.0))) == []
    assert [o.value.key for o in dofn.finish_bundle()] == ["c"]


def test_batches_run_mid_bundle_keep_sliding_windows_once_each() -> None:
    """Batches of two run while the bundle goes on (in ``process``, whose outputs Beam would
    multiply by the current element's windows): each prediction still lies in its element's
    two windows once."""
    pipeline = beam.Pipeline(options=streaming())
    stream = (
        EventStream()
        .add_elements([TimestampedValue((f"k{t}", float(t)), t) for t in (1, 6, 7, 12, 18)])
        .advance_watermark_to_infinity()
    )
    predictions = (
        pipeline
        | stream
        | beam.WindowInto(window.SlidingWindows(10, 5))
        | ig.RunInference(ScaleHandler(max_batch_size=2))
        | beam.ParDo(_InWindow())
    )
    want = [
        (f"k{t}", float(t), float(start))
        for t in (1, 6, 7, 12, 18)
        for start in range(-5, 20, 5)
        if start <= t < start + 10
    ]
    assert len(want) == 10
    assert_that(predictions, equal_to(want))
    pipeline.run().wait_until_finish()


class _InWindow(beam.DoFn):  # type: ignore[misc]
    def process(
        self,
        result: Any,
        timestamp: Any = beam.DoFn.TimestampParam,
        win: Any = beam.DoFn.WindowParam,
    ) -> Iterator[Any]:
        yield result.key, float(timestamp), float(win.start)
