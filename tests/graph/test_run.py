"""Every topology in this process: values, failures, skips, keys and lineage, in input order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import infergraph as ig
from infergraph.core.ahead import overlap_enabled
from infergraph.graph.hashing import stable_fraction, stable_fractions
from infergraph.graph.run import chunks
from tests import graph_topologies as topologies
from tests.core.handlers import ScaleHandler


def run(case: topologies.Case, **kwargs: object) -> list[ig.GraphResult]:
    results = list(case.graph.run(case.data, **kwargs))  # type: ignore[arg-type]
    assert len(results) == len(case.data), "one result per input"
    return results


def value(result: ig.GraphResult, node: str) -> float:
    return float(np.asarray(result[node]).reshape(-1)[0])


def test_chain_feeds_one_model_into_the_next(five_onnx: Path, ten_onnx: Path) -> None:
    results = run(topologies.chain(five_onnx, ten_onnx))
    assert [r.key for r in results] == [f"k{i}" for i in range(6)] + ["bad"]
    assert [value(r, "ten") for r in results[:4]] == [5250.0, 5400.0, 50000.0, 50650.0]
    assert results[0].lineage.nodes == ("five", "to_x", "ten")
    bad = results[-1]
    assert bad.status == "failed"
    assert bad.failures["ten"].node == "five"  # the failure names the node that failed
    assert bad.root_failure() is bad.failures["ten"]
    failure = bad.to_failure()
    assert (failure.key, failure.example, failure.stage) == ("bad", "not a number", "run")
    assert "key 'bad'" in failure.message


def test_branch_joins_arms_and_a_failing_arm_keeps_the_other(
    five_onnx: Path, ten_onnx: Path
) -> None:
    results = {r.key: r for r in run(topologies.branch(five_onnx, ten_onnx))}
    assert value(results["k0"], "five") == 525.0
    assert value(results["k0"], "ten") == 1050.0
    partial = results["k5"]  # 600: the ten arm refuses it
    assert partial.status == "partial"
    assert value(partial, "five") == 3000.0
    assert partial.failures["ten"].stage == "run"
    assert "refuses 600" in partial.failures["ten"].message
    with pytest.raises(KeyError, match="output 'ten' failed in node 'ten'"):
        partial["ten"]


def test_route_first_match_wins_and_unmatched_is_skipped(five_onnx: Path, ten_onnx: Path) -> None:
    results = {r.key: r for r in run(topologies.route(five_onnx, ten_onnx))}
    assert value(results["k2"], "ten") == 10000.0  # 1000 >= 1000: the first case
    assert results["k2"].skipped == ("five",)
    assert value(results["k0"], "five") == 525.0  # 105: the second case
    assert results["k0"].lineage.routes == {"by_size": "five"}
    unmatched = results["k4"]  # 7 matches no case and there is no default
    assert unmatched.status == "skipped"
    assert unmatched.skipped == ("five", "ten")
    assert unmatched.lineage.routes == {"by_size": None}
    assert unmatched.lineage.nodes == ("by_size",)


def test_route_default_merge_and_post_processing(five_onnx: Path, ten_onnx: Path) -> None:
    results = {r.key: r for r in run(topologies.route_merge(five_onnx, ten_onnx))}
    assert results["k0"]["text"] == "input is [105.] output is [525.]"
    assert results["k2"]["text"] == "input is [1000.] output is [10000.]"
    assert results["k2"].lineage.nodes == ("by_size", "ten", "prediction", "text")


def test_split_is_deterministic_by_key(five_onnx: Path, ten_onnx: Path) -> None:
    case = topologies.split(five_onnx, ten_onnx)
    first = [r.lineage.routes.get("ab") for r in run(case)]
    again = [r.lineage.routes.get("ab") for r in run(topologies.split(five_onnx, ten_onnx))]
    assert first == again
    arms = first[:-1]
    assert set(arms) == {"five", "ten"}
    assert 10 <= arms.count("five") <= 30  # 50/50 over 40 keys
    unkeyed = run(case)[-1]
    assert unkeyed.status == "failed"
    assert unkeyed.failures["five"].stage == "split"
    assert "assigns arms by key" in unkeyed.failures["five"].message


def test_split_assignment_is_stable_across_processes() -> None:
    import subprocess
    import sys

    code = (
        "from infergraph.graph.hashing import stable_fraction;"
        "print([stable_fraction(k, 'ab') for k in ['user-1', 2, b'x']])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    here = [stable_fraction(k, "ab") for k in ["user-1", 2, b"x"]]
    assert out.stdout.strip() == str(here)
    assert stable_fraction("1", "ab") != stable_fraction(1, "ab")


def test_a_built_in_and_a_plugin_handler_in_one_graph(five_onnx: Path, ten_onnx: Path) -> None:
    results = run(topologies.mixed_plugin(five_onnx, ten_onnx))
    assert [value(r, "double") for r in results[:2]] == [1050.0, 1080.0]


def test_keys_survive_unkeyed_and_malformed_elements() -> None:
    g = ig.Graph()
    g.model("double", ScaleHandler())
    g.chain("double")
    results = list(g.run([("a", 1.0), 2.0, ("c", 3.0, "extra")]))
    assert [r.key for r in results] == ["a", None, None]
    assert [r.status for r in results] == ["ok", "ok", "failed"]  # a 3-tuple is an example
    strict = list(g.run([("a", 1.0), 2.0], keyed=True))
    assert strict[1].status == "failed"
    assert strict[1].failures["double"].stage == "input"


def test_functions_may_take_the_key() -> None:
    g = ig.Graph()
    g.model("double", ScaleHandler())
    g.function("label", lambda key, y: f"{key}={float(y)}", inputs=["key", "double"])
    g.chain("double")
    assert [r["label"] for r in g.run([("a", 1.0), ("b", 2.0)])] == ["a=2.0", "b=4.0"]


def test_a_failing_function_fails_its_element_only() -> None:
    g = ig.Graph()
    g.function("inverse", lambda x: 1 / x)
    g.model("double", ScaleHandler())
    g.chain("inverse", "double")
    results = list(g.run([("a", 2.0), ("zero", 0.0), ("b", 4.0)]))
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    failure = results[1].failures["double"]
    assert (failure.node, failure.stage, failure.error_type) == (
        "inverse",
        "function",
        "ZeroDivisionError",
    )


def test_record_fields_follow_the_one_input_rule() -> None:
    g = ig.Graph()
    g.model("double", ScaleHandler())
    g.model("pick", ScaleHandler(factor=3.0), input_field="b")
    g.branch("double", "pick")
    (one, two) = g.run([("a", {"x": 5.0, "b": 1.0}), ("c", {"x": 1.0})])
    assert float(one["pick"]) == 3.0
    assert one.failures["double"].stage == "batch"  # two fields, no declared input names
    assert float(two["double"]) == 2.0  # a single field is the example
    assert two.failures["pick"].stage == "input"
    assert "no field 'b'" in two.failures["pick"].message


def test_metrics_per_node_and_results(five_onnx: Path, ten_onnx: Path) -> None:
    stats = ig.GraphStats()
    case = topologies.route(five_onnx, ten_onnx)
    run(case, metrics=stats)
    assert stats.results == {"ok": 5, "skipped": 1}
    assert stats.nodes["by_size"].counters["elements"] == 6
    assert stats.nodes["by_size"].counters["unrouted"] == 1
    assert stats.nodes["ten"].counters["elements"] == 2
    assert stats.nodes["ten"].counters["skipped"] == 4
    assert stats.nodes["five"].counters["model_calls"] == 1
    assert stats.nodes["five"].distributions["node_latency_us"].count == 1


def test_models_load_once_before_any_result(tmp_path: Path) -> None:
    g = ig.Graph()
    g.model("broken", "onnx", path=str(tmp_path / "missing.onnx"))
    g.chain("broken")
    with pytest.raises(ig.ModelLoadError, match=r"missing\.onnx"):
        g.run([1.0])  # raised at the call, before iterating


def test_chunks_bound_what_is_held(five_onnx: Path) -> None:
    g = ig.Graph()
    g.model("five", "onnx", path=str(five_onnx), max_batch_size=3)
    g.chain("five")
    pulled = []

    def source():  # type: ignore[no-untyped-def]
        for i in range(10):
            pulled.append(i)
            yield (i, [float(i)])

    results = g.run(source())
    first = next(results)
    # The first chunk's results come out once the second chunk is read (core.ahead): two
    # chunks held at once, never the whole input.
    assert first.key == 0 and len(pulled) == (6 if overlap_enabled() else 3)
    assert [r.key for r in results] == list(range(1, 10))


def test_chunks_run_in_order_on_the_worker_thread(five_onnx: Path) -> None:
    import threading

    threads = set()

    def where(x: float) -> float:
        threads.add(threading.current_thread().name)
        return x

    g = ig.Graph()
    g.function("where", where)
    g.model("five", "onnx", path=str(five_onnx), max_batch_size=4)
    g.chain("where", "five")
    results = list(g.run([float(i)] for i in range(25)))
    assert [r.example for r in results] == [[float(i)] for i in range(25)]
    expected = "infergraph-ahead" if overlap_enabled() else "MainThread"
    assert threads and all(name.startswith(expected) for name in threads)


def test_a_column_of_keys_hashes_like_each_key() -> None:
    import numpy as np

    for keys in (
        np.array([f"user-{i}" for i in range(50)] + ["ünïcode", ""]),
        np.array([b"a", b"bb", b"ccc"]),
        np.arange(-5, 40, dtype=np.int64),
        np.array([True, False]),
        [("tuple", 1), None, 2.5, "x", 3],
    ):
        column = stable_fractions(keys, "salt")
        each = [stable_fraction(key, "salt") for key in list(keys)]
        assert column.tolist() == each
        assert ((column >= 0) & (column < 1)).all()
    assert stable_fraction("1", "s") != stable_fraction(1, "s") != stable_fraction(b"1", "s")
    assert stable_fraction("k", "a") != stable_fraction("k", "b")
    spread = stable_fractions(np.array([f"user-{i}" for i in range(10_000)]), "ab")
    assert abs(float(np.mean(spread < 0.1)) - 0.1) < 0.01  # uniform enough for weights


def test_blocks_are_chunked_by_their_rows() -> None:
    g = ig.Graph()
    g.model("double", ScaleHandler(max_batch_size=100))
    g.chain("double")
    pulled = []

    def source():  # type: ignore[no-untyped-def]
        for i in range(10):
            pulled.append(i)
            yield ig.Block(np.ones(60), keys=np.arange(i * 60, (i + 1) * 60))

    results = g.run(source())
    next(results)
    # 120 rows reach the chunk size of 100 (and with overlap, the next chunk is read while
    # the first runs): not 10 blocks held at once.
    assert len(pulled) == (4 if overlap_enabled() else 2)


def test_a_record_of_several_fields_sent_whole_says_how_to_pick_one() -> None:
    graph = ig.Graph()
    graph.chain(graph.model("scale", ScaleHandler(factor=2.0)))
    (result,) = graph.run([("k", {"x": 1.0, "y": 2.0})])
    message = result.failures["scale"].message
    assert "has the fields ['x', 'y']" in message
    assert "input_field" in message and "--input-field" in message and "--key-field" in message
    (failure,) = ig.predict(ScaleHandler(factor=2.0), [("k", {"x": 1.0, "y": 2.0})])
    assert isinstance(failure, ig.Failure) and "--input-field" in failure.message
    # with the field named, it runs
    named = ig.Graph()
    named.model("scale", ScaleHandler(factor=2.0), input_field="x")
    named.chain("scale")
    (ok,) = named.run([("k", {"x": 1.0, "y": 2.0})])
    assert float(ok["scale"]) == 2.0


def test_chunks_without_a_time_limit_cut_where_the_timed_ones_do() -> None:
    block, big = ig.Block(np.ones(5)), ig.Block(np.ones(40))
    streams = [
        [],
        [1.0] * 8,
        [1.0] * 9,
        [("k", 1.0)] * 7,
        [1.0, 2.0, block, 3.0, ("k", block), 4.0, 5.0, 6.0],
        [block, 1.0, big, 2.0, 3.0, 4.0, 5.0, ("k", 1.0)],
        [("a", 1.0), (1, 2, 3), ("b", block), 2.0],
    ]
    for stream in streams:
        timed = [[id(e) for e in c] for c in chunks(iter(stream), 4, 1e9, lambda: 0.0)]
        counted = [[id(e) for e in c] for c in chunks(iter(stream), 4, None, lambda: 0.0)]
        assert counted == timed, stream
