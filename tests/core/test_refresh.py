"""Model refresh in this process: updates swap models between chunks, never mid-batch."""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import infergraph as ig
from infergraph.core.refresh import ModelUpdate, model_version, newest_models, watch_models
from tests import onnx_models
from tests.core.handlers import ScaleHandler


def endless(updates: queue.Queue[ModelUpdate]) -> Iterator[ModelUpdate]:
    while True:
        yield updates.get()


def wait_for(done: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def one_model(path: Path) -> ig.Graph:
    graph = ig.Graph("refresh")
    graph.model("m", "onnx", path=str(path))
    graph.chain("m")
    return graph


def counter(stats: ig.GraphStats, name: str) -> int:
    sink = stats.node("m")
    assert isinstance(sink, ig.RunStats)
    return int(sink.counters.get(name, 0))


def test_elements_before_an_update_get_v1_after_it_v2_none_lost(tmp_path: Path) -> None:
    v1 = onnx_models.linear(tmp_path / "v1.onnx", 5.0)
    v2 = onnx_models.linear(tmp_path / "v2.onnx", 7.0)
    updates: queue.Queue[ModelUpdate] = queue.Queue()
    stats = ig.GraphStats()

    def data() -> Iterator[Any]:
        yield from ((f"a{i}", [1.0]) for i in range(3))
        updates.put(ModelUpdate("m", str(v2)))
        wait_for(lambda: counter(stats, "model_refresh_loads") == 1)  # loaded in the background
        yield from ((f"b{i}", [1.0]) for i in range(3))

    graph = one_model(v1)
    results = list(graph.run(data(), model_updates=endless(updates), chunk_size=1, metrics=stats))
    assert [r.key for r in results] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert [float(r["m"][0]) for r in results] == [5.0] * 3 + [7.0] * 3
    versions = [r.lineage.models["m"] for r in results]
    assert versions == [model_version(str(v1))] * 3 + [model_version(str(v2))] * 3
    assert versions[0].startswith(f"{v1}@") and versions[-1].startswith(f"{v2}@")
    assert counter(stats, "model_refreshes") == 1


def test_a_model_that_fails_to_load_is_reported_and_the_old_one_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="infergraph")
    v1 = onnx_models.linear(tmp_path / "v1.onnx", 5.0)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    stats = ig.GraphStats()

    def data() -> Iterator[Any]:
        yield ("a", [1.0])
        wait_for(lambda: counter(stats, "model_refresh_failures") == 1)
        yield ("b", [2.0])

    updates = iter([ModelUpdate("elsewhere", str(v1)), ModelUpdate("m", str(broken))])
    results = list(one_model(v1).run(data(), model_updates=updates, chunk_size=1, metrics=stats))
    assert [float(r["m"][0]) for r in results] == [5.0, 10.0]
    assert {r.lineage.models["m"] for r in results} == {model_version(str(v1))}
    messages = [r.getMessage() for r in caplog.records]
    assert any(str(broken) in m and "model in use is kept" in m for m in messages), messages
    assert any("no model node 'elsewhere'" in m for m in messages), messages


def test_a_file_written_again_under_its_name_is_a_new_version(tmp_path: Path) -> None:
    path = onnx_models.linear(tmp_path / "model.onnx", 5.0)
    first = newest_models({"m": str(tmp_path / "*.onnx")})
    onnx_models.linear(path, 7.0)
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    second = newest_models({"m": str(tmp_path / "*.onnx")})
    assert [u.path for u in first] == [u.path for u in second] == [str(path)]
    assert first[0].version != second[0].version


class Stop(threading.Event):
    """A stop event whose waits call ``sleep`` (a test's clock) instead of waiting."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        super().__init__()
        self.sleep = sleep

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.sleep(timeout)
        return self.is_set()


def test_the_watcher_needs_no_file_at_the_start_and_gives_the_newest(tmp_path: Path) -> None:
    pattern = {"m": str(tmp_path / "m-*.onnx")}
    polls: list[float] = []
    made: list[Path] = []

    def sleep(seconds: float) -> None:  # each poll, a newer model file appears
        polls.append(seconds)
        made.append(onnx_models.linear(tmp_path / f"m-{len(polls)}.onnx", float(len(polls))))
        stamp = time.time_ns() + len(polls) * 10**9
        os.utime(made[-1], ns=(stamp, stamp))

    watcher = watch_models(pattern, interval_s=0.25, stop=Stop(sleep))
    first, second = next(watcher), next(watcher)  # nothing on the first poll: no update
    assert (first.node, first.path) == ("m", str(made[0]))
    assert second.path == str(made[1]) and polls == [0.25, 0.25]


def test_updates_reach_a_graph_from_the_watcher(tmp_path: Path) -> None:
    v1 = onnx_models.linear(tmp_path / "v1.onnx", 5.0)
    folder = tmp_path / "watched"
    folder.mkdir()
    stats = ig.GraphStats()

    def data() -> Iterator[Any]:
        yield ("a", [1.0])
        onnx_models.linear(folder / "v2.onnx", 7.0)  # appears while the graph runs
        wait_for(lambda: counter(stats, "model_refresh_loads") == 1)
        yield ("b", [1.0])

    stop = threading.Event()
    watcher = ig.watch_models({"m": str(folder / "*.onnx")}, interval_s=0.01, stop=stop)
    graph = one_model(v1)
    results = list(graph.run(data(), model_updates=watcher, chunk_size=1, metrics=stats))
    stop.set()
    assert [float(np.asarray(r["m"])[0]) for r in results] == [5.0, 7.0]


SPEC = """\
name: watched
models:
  m: {handler: onnx, path: v1.onnx}
nodes:
  - {name: m, model: m}
watch:
  patterns: {m: "models/*.onnx"}
  interval_s: 0.01
"""


def test_a_spec_declares_the_watch_and_graph_run_follows_it(tmp_path: Path) -> None:
    onnx_models.linear(tmp_path / "v1.onnx", 5.0)
    (tmp_path / "models").mkdir()
    (tmp_path / "spec.yaml").write_text(SPEC)
    graph = ig.load_graph(tmp_path / "spec.yaml")
    assert graph.watches == {"m": str(tmp_path / "models" / "*.onnx")}
    assert graph.watch_interval_s == 0.01
    stats = ig.GraphStats()

    def data() -> Iterator[Any]:
        yield ("a", [1.0])
        onnx_models.linear(tmp_path / "models" / "v2.onnx", 7.0)
        wait_for(lambda: counter(stats, "model_refresh_loads") == 1)
        yield ("b", [1.0])

    results = list(graph.run(data(), chunk_size=1, metrics=stats))
    assert [float(r["m"][0]) for r in results] == [5.0, 7.0]


def test_a_watch_of_a_node_that_is_no_model_is_refused(tmp_path: Path) -> None:
    graph = one_model(onnx_models.linear(tmp_path / "v1.onnx", 5.0))
    graph.function("double", lambda y: 2 * y, inputs=["m"])
    with pytest.raises(ig.GraphError, match=r"cannot watch 'double': it is not a model node"):
        graph.watch({"double": "*.onnx"})
    with pytest.raises(ig.GraphError, match="interval_s must be above 0"):
        graph.watch({"m": "*.onnx"}, interval_s=0)
    with pytest.raises(ig.ConfigError, match="has no `path` to refresh"):
        scale = ig.Graph("scale")
        scale.model("s", ScaleHandler())
        scale.chain("s")
        scale.watch({"s": "*.onnx"})


def test_a_spec_watch_of_an_unknown_node_names_its_line(tmp_path: Path) -> None:
    onnx_models.linear(tmp_path / "v1.onnx", 5.0)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("{m: ", "{nope: "))
    with pytest.raises(
        ig.SpecError, match=r"spec.yaml:7: watch.patterns.nope: cannot watch 'nope'"
    ):
        ig.load_graph(tmp_path / "spec.yaml")
