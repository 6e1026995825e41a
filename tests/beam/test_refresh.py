"""Model refresh on Beam: a streaming TestStream pipeline whose model is replaced while it runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import FixedWindows, TimestampedValue

import infergraph as ig
from infergraph.core.refresh import model_version, with_path
from tests import onnx_models


def chain(v1: Path, ten: Path) -> ig.Graph:
    """input -> m (refreshed: 5x, then 7x) -> to_x -> ten (10x)."""
    graph = ig.Graph("refresh")
    graph.model("m", "onnx", path=str(v1))
    graph.model("ten", "onnx", path=str(ten))
    graph.chain("m", lambda y: np.asarray(y, dtype=np.float32).reshape(1), "ten")
    return graph


def keyed(prefix: str, start: int) -> list[TimestampedValue]:
    return [TimestampedValue((f"{prefix}{i}", [1.0]), start + i) for i in range(3)]


def events(update: ig.ModelUpdate) -> EventStream:
    """Elements a*, the update, elements b* (they start the load), elements c*."""
    return (
        EventStream(output_tags={"main", "updates"})
        .add_elements(keyed("a", 0), tag="main")
        .advance_watermark_to(10, tag="main")
        .advance_processing_time(5)
        .add_elements([update], tag="updates")
        .advance_processing_time(5)
        .add_elements(keyed("b", 10), tag="main")
        .advance_watermark_to(20, tag="main")
        .advance_processing_time(5)
        .add_elements(keyed("c", 20), tag="main")
        .advance_watermark_to_infinity(tag="main")
        .advance_watermark_to_infinity(tag="updates")
    )


class WaitForLoad(beam.DoFn):  # type: ignore[misc]
    """Holds c* elements until the new model is loaded in this process (b* started the load
    in the background), so that they must be answered by it."""

    def __init__(self, key: str) -> None:
        self.key = key

    def process(self, element: Any) -> Iterator[Any]:
        if element[0].startswith("c"):
            deadline = time.monotonic() + 10
            while self.key not in ig.model_cache.loaded() and time.monotonic() < deadline:
                time.sleep(0.01)
        yield element


class Answered(beam.DoFn):  # type: ignore[misc]
    def process(
        self, result: Any, timestamp: Any = beam.DoFn.TimestampParam
    ) -> Iterator[tuple[str, float, str, float]]:
        value = float(np.asarray(result["ten"]).ravel()[0])
        yield result.key, value, result.lineage.models["m"], float(timestamp)


def test_elements_before_the_update_get_v1_after_it_v2_none_lost(
    tmp_path: Path, ten_onnx: Path
) -> None:
    v1 = onnx_models.linear(tmp_path / "v1.onnx", 5.0)
    v2 = onnx_models.linear(tmp_path / "v2.onnx", 7.0)
    graph = chain(v1, ten_onnx)
    v2_key = with_path(graph.nodes["m"].handler, str(v2)).cache_key()  # type: ignore[attr-defined]
    one, two = model_version(str(v1)), model_version(str(v2))

    pipeline = beam.Pipeline(options=PipelineOptions(streaming=True))
    stream = pipeline | events(ig.ModelUpdate("m", str(v2)))
    answered = (
        stream["main"]
        | beam.ParDo(WaitForLoad(v2_key))
        | beam.WindowInto(FixedWindows(10))
        | ig.RunGraph(graph, model_updates=stream["updates"])
        | beam.ParDo(Answered())
    )
    # Each answer's value is the one its lineage's version gives (never a half-loaded model).
    consistent = answered | beam.Map(lambda a: a[1] == {one: 50.0, two: 70.0}[a[2]])
    assert_that(consistent, equal_to([True] * 9), label="Consistent")
    before_and_after = answered | beam.Filter(lambda a: a[0][0] in "ac")
    want = [(f"a{i}", 50.0, one, float(i)) for i in range(3)]
    want += [(f"c{i}", 70.0, two, 20.0 + i) for i in range(3)]
    assert_that(before_and_after, equal_to(want), label="BeforeAndAfter")
    keys = answered | beam.Map(lambda a: a[0])
    assert_that(keys, equal_to([f"{p}{i}" for p in "abc" for i in range(3)]), label="NoneLost")
    pipeline.run().wait_until_finish()


def test_a_broken_update_keeps_the_old_model_and_is_reported(
    tmp_path: Path, ten_onnx: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="infergraph")
    v1 = onnx_models.linear(tmp_path / "v1.onnx", 5.0)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    graph = chain(v1, ten_onnx)
    pipeline = beam.Pipeline(options=PipelineOptions(streaming=True))
    stream = pipeline | events(ig.ModelUpdate("m", str(broken)))
    answered = (
        stream["main"]
        | beam.WindowInto(FixedWindows(10))
        | ig.RunGraph(graph, model_updates=stream["updates"])
        | beam.ParDo(Answered())
        | beam.Map(lambda a: (a[0], a[1]))
    )
    assert_that(answered, equal_to([(f"{p}{i}", 50.0) for p in "abc" for i in range(3)]))
    pipeline.run().wait_until_finish()
    messages = [r.getMessage() for r in caplog.records if r.name == "infergraph"]
    assert any(str(broken) in m and "model in use is kept" in m for m in messages), messages


def test_watch_models_polls_a_pattern_that_matches_nothing_yet(tmp_path: Path) -> None:
    """The watcher runs on the DirectRunner for 2.5 s: its first polls find no file,
    a later one finds the model written meanwhile."""
    folder = tmp_path / "models"
    folder.mkdir()
    model = folder / "m-2.onnx"
    start = time.time()
    with beam.Pipeline() as pipeline:
        polls = pipeline | ig.WatchModels(
            {"m": str(folder / "m-*.onnx")}, interval_s=0.2, start_s=start, stop_s=start + 2.5
        )
        _ = (
            pipeline
            | beam.Create([None])
            | beam.Map(lambda _: (time.sleep(0.3), onnx_models.linear(model, 7.0)))
        )
        found = (
            polls
            | beam.WindowInto(FixedWindows(10**9))  # one window
            | beam.Map(lambda u: (u.node, u.path))
            | beam.Distinct()
        )
        assert_that(found, equal_to([("m", str(model))]))


def test_run_inference_follows_model_updates(tmp_path: Path) -> None:
    v1 = onnx_models.linear(tmp_path / "v1.onnx", 5.0)
    v2 = onnx_models.linear(tmp_path / "v2.onnx", 7.0)
    handler = ig.handler("onnx", path=str(v1), model_id="m")
    pipeline = beam.Pipeline(options=PipelineOptions(streaming=True))
    stream = pipeline | events(ig.ModelUpdate("m", str(v2)))
    predictions = (
        stream["main"]
        | beam.ParDo(WaitForLoad(with_path(handler, str(v2)).cache_key()))
        | beam.WindowInto(FixedWindows(10))
        | ig.RunInference(handler, model_updates=stream["updates"])
        | beam.Map(lambda p: (p.key, float(p.output[0]), p.model_id))
        | beam.Filter(lambda p: p[0][0] in "ac")
    )
    want = [(f"a{i}", 5.0, "m") for i in range(3)] + [(f"c{i}", 7.0, "m") for i in range(3)]
    assert_that(predictions, equal_to(want))
    pipeline.run().wait_until_finish()
