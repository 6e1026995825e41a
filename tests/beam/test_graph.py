"""RunGraph on the DirectRunner gives exactly the in-process results, topology by topology."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter

import infergraph as ig
from infergraph.testing import outputs_equal
from tests import graph_topologies as topologies
from tests.core.handlers import ScaleHandler
from tests.graph.test_blocks import as_block


def run_cases_on_beam(
    cases: list[topologies.Case], tmp_path: Path
) -> dict[str, tuple[list[ig.GraphResult], list[ig.Failure]]]:
    """Every case in one pipeline: its results and its failures (with_exception_handling)."""
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        for case in cases:
            results, failures = (
                pipeline
                | f"Create[{case.name}]" >> beam.Create(case.data, reshuffle=False)
                | f"Graph[{case.name}]" >> ig.RunGraph(case.graph).with_exception_handling()
            )
            for kind, pcoll in (("results", results), ("failures", failures)):
                _ = (
                    pcoll
                    | f"Pickle[{case.name}/{kind}]"
                    >> beam.Map(lambda r: base64.b64encode(pickle.dumps(r)).decode("ascii"))
                    | f"Write[{case.name}/{kind}]"
                    >> beam.io.WriteToText(str(tmp_path / f"{case.name}.{kind}"))
                )
    out = {}
    for case in cases:
        found = []
        for kind in ("results", "failures"):
            lines = [
                line
                for path in sorted(tmp_path.glob(f"{case.name}.{kind}*"))
                for line in path.read_text().split()
            ]
            found.append([pickle.loads(base64.b64decode(line)) for line in lines])
        out[case.name] = (found[0], found[1])
    return out


def same(local: ig.GraphResult, remote: ig.GraphResult) -> None:
    assert local.key == remote.key
    assert local.status == remote.status, local.key
    assert local.values.keys() == remote.values.keys(), local.key
    for name, value in local.values.items():
        assert outputs_equal(value, remote.values[name]), (local.key, name)
    assert local.skipped == remote.skipped
    assert {n: (f.node, f.stage, f.error_type) for n, f in local.failures.items()} == {
        n: (f.node, f.stage, f.error_type) for n, f in remote.failures.items()
    }
    assert local.lineage == remote.lineage


def test_every_topology_gives_the_in_process_results(
    five_onnx: Path, ten_onnx: Path, tmp_path: Path
) -> None:
    cases = [make(five_onnx, ten_onnx) for make in topologies.ALL]
    on_beam = run_cases_on_beam(cases, tmp_path)
    for case in cases:
        local = list(case.graph.run(case.data))
        results, failures = on_beam[case.name]
        assert len(results) + len(failures) == len(case.data), case.name  # conservation
        by_key = {r.key: r for r in results}
        assert len(by_key) == len(results), "no duplicate keys"
        failed = {f.key: f for f in failures}
        for result in local:
            if result.status == "failed":
                expected = result.to_failure()
                got = failed.pop(result.key)
                assert (got.node, got.stage, got.error_type) == (
                    expected.node,
                    expected.stage,
                    expected.error_type,
                )
                assert got.example == expected.example
            else:
                same(result, by_key.pop(result.key))
        assert not by_key and not failed, case.name


def test_without_exception_handling_a_failed_element_stops_the_pipeline() -> None:
    g = ig.Graph()
    g.model("double", ScaleHandler(reject=3.0))
    g.chain("double")
    expected = r"key=.b. failed in node 'double'.*with_exception_handling"
    with pytest.raises(Exception, match=expected), beam.Pipeline(runner="DirectRunner") as p:
        _ = p | beam.Create([("a", 1.0), ("b", 3.0)]) | ig.RunGraph(g)


def test_node_and_result_metrics(five_onnx: Path, ten_onnx: Path) -> None:
    case = topologies.route(five_onnx, ten_onnx)
    pipeline = beam.Pipeline(runner="DirectRunner")
    _ = pipeline | beam.Create(case.data) | ig.RunGraph(case.graph).with_exception_handling()
    result = pipeline.run()
    result.wait_until_finish()

    def counters(namespace: str) -> dict[str, Any]:
        query = result.metrics().query(MetricsFilter().with_namespace(namespace))
        return {c.key.metric.name: c.committed for c in query["counters"]}

    assert counters("infergraph.route") == {"ok": 5, "skipped": 1}
    assert counters("infergraph.route.by_size")["unrouted"] == 1
    ten = counters("infergraph.route.ten")
    assert (ten["elements"], ten["skipped"], ten["inferences"]) == (2, 4, 2)


def test_an_invalid_graph_fails_before_the_pipeline_is_built() -> None:
    g = ig.Graph()
    g.model("double", ScaleHandler())
    with pytest.raises(ig.GraphError, match="takes no input"):
        ig.RunGraph(g)


def test_blocks_on_beam_match_blocks_in_process(
    five_onnx: Path, ten_onnx: Path, tmp_path: Path
) -> None:
    cases = [make(five_onnx, ten_onnx) for make in topologies.ALL]
    blocks = {}
    for case in cases:
        block, _ = as_block(case)
        blocks[case.name] = block
        case.data = [block]
    on_beam = run_cases_on_beam(cases, tmp_path)
    for case in cases:
        (local,) = case.graph.run(case.data)
        order = tuple(step.name for step in case.graph.validate())
        expected_kept, expected_failures = local.split(order)
        results, failures = on_beam[case.name]
        assert sorted(str(f.key) for f in failures) == sorted(
            str(f.key) for f in expected_failures
        ), case.name
        rows = sum(r.rows for r in results) + len(failures)
        assert rows == blocks[case.name].rows, case.name  # conservation, in rows
        if expected_kept is None:
            assert not results
            continue
        (kept,) = results
        assert kept.example.keys.tolist() == expected_kept.example.keys.tolist()
        assert kept.status_counts() == expected_kept.status_counts()
        for name, column in expected_kept.values.items():
            assert outputs_equal(kept.valid[name], expected_kept.valid[name])
            valid = expected_kept.valid[name]
            assert outputs_equal(np.asarray(kept.values[name])[valid], np.asarray(column)[valid])


def test_a_graph_is_one_fused_step_with_no_beam_warnings(
    five_onnx: Path, ten_onnx: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.WARNING)
    case = topologies.chain(five_onnx, ten_onnx)
    pipeline = beam.Pipeline(runner="DirectRunner")
    results = (
        pipeline
        | beam.Create(case.data, reshuffle=False)
        | ig.RunGraph(case.graph).with_exception_handling()
    )
    labels: list[str] = []

    class Labels(beam.pipeline.PipelineVisitor):  # type: ignore[misc]
        def visit_transform(self, node: Any) -> None:
            labels.append(node.full_label)

    pipeline.visit(Labels())
    graph_steps = [label for label in labels if label.startswith("RunGraph[chain]/")]
    assert graph_steps == ["RunGraph[chain]/Run/ParDo(_SegmentEachDoFn)"], graph_steps
    assert len(results) == 2
    pipeline.run().wait_until_finish()
    beam_warnings = [r.getMessage() for r in caplog.records if r.name.startswith("apache_beam")]
    assert not [m for m in beam_warnings if "returned None" in m], beam_warnings
