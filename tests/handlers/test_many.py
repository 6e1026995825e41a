"""The ``many`` handler: 50 tiny ONNX models, one per tenant, behind a cache of 4."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import infergraph as ig
from infergraph.core.errors import ConfigError
from infergraph.core.metrics import RunStats
from infergraph.handlers.many import ModelCache
from tests import onnx_models

TENANTS = 50


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tenants")
    for i in range(TENANTS):
        onnx_models.linear(root / f"t{i}.onnx", float(i))  # tenant i multiplies by i
    return root


def tenant_handler(models: Path, **options: object) -> ig.ModelHandler:  # type: ignore[type-arg]
    return ig.handler(
        "many",
        inner="onnx",
        path=str(models / "{input.tenant}.onnx"),
        max_models=4,
        max_batch_size=8,
        options={"intra_op_threads": 1, "inter_op_threads": 1},
        **options,
    )


def element(tenant: int, x: float) -> dict[str, object]:
    return {"tenant": f"t{tenant}", "x": [x]}


def outputs(results: list[object]) -> list[float]:
    assert all(isinstance(r, ig.Prediction) for r in results), results
    return [float(np.asarray(r.output)[0]) for r in results]  # type: ignore[attr-defined]


def test_every_element_is_answered_by_its_tenants_model(models: Path) -> None:
    # round robin over 50 tenants, 4 rounds: with room for 4 models, every use is a miss
    order = [i % TENANTS for i in range(4 * TENANTS)]
    stats = RunStats()
    results = list(
        ig.predict(
            tenant_handler(models, model_id="round"),
            [element(t, 2.0) for t in order],
            metrics=stats,
        )
    )
    assert outputs(results) == [2.0 * t for t in order]
    assert stats.counters["model_loads"] == len(order)
    assert stats.counters["model_evictions"] == len(order) - 4


def test_rows_of_one_model_share_its_load_and_its_call(models: Path) -> None:
    # each tenant's rows together: every model loads once, and is called once per batch
    order = [t for t in range(TENANTS) for _ in range(4)]
    stats = RunStats()
    handler = tenant_handler(models, model_id="sorted")  # a cache of its own
    results = list(
        ig.predict(handler, [element(t, float(k)) for k, t in enumerate(order)], metrics=stats)
    )
    assert outputs(results) == [float(k) * t for k, t in enumerate(order)]
    assert stats.counters["model_loads"] == TENANTS
    assert stats.counters["model_evictions"] == TENANTS - 4
    assert stats.counters["model_calls"] == len(order) // 8  # one call per batch of 8


def test_a_mapping_chooses_the_model_and_an_unknown_value_fails_alone(models: Path) -> None:
    handler = ig.handler(
        "many",
        inner="onnx",
        field="tenant",
        paths={"gold": str(models / "t3.onnx"), "free": str(models / "t1.onnx")},
    )
    data = [
        ("a", {"tenant": "gold", "x": [1.0]}),
        ("b", {"tenant": "nope", "x": [1.0]}),
        ("c", {"tenant": "free", "x": [5.0]}),
        ("d", {"x": [5.0]}),
    ]
    a, b, c, d = ig.predict(handler, data)
    assert outputs([a, c]) == [3.0, 5.0]
    assert isinstance(b, ig.Failure) and isinstance(d, ig.Failure)
    assert "no model for tenant='nope'; models exist for ['free', 'gold']" in b.message
    assert "needs the field 'tenant'; the element has ['x']" in d.message


def test_the_cache_never_holds_more_than_its_bound() -> None:
    loads: list[str] = []
    cache = ModelCache(lambda path: loads.append(path) or path, max_models=4)
    for i in [0, 1, 2, 3, 0, 4, 5, 0, 6, 1]:
        assert cache.get(f"m{i}") == f"m{i}"
        assert len(cache.loaded) <= 4
    assert cache.peak == 4
    # 0 stays (recently used); 1, 2, 3 leave for 4, 5, 6; 1 comes back
    assert loads == ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m1"]
    assert cache.take_counts() == {"model_loads": 8, "model_evictions": 4}
    assert cache.take_counts() == {}


def test_a_byte_bound_keeps_the_loaded_files_under_it(models: Path) -> None:
    size = (models / "t0.onnx").stat().st_size
    cache = ModelCache(str, max_models=10, max_bytes=2 * size + 1)
    for i in range(5):
        cache.get(str(models / f"t{i}.onnx"))
        assert sum(s for _, s in cache.loaded.values()) <= 2 * size + 1
    assert list(cache.loaded) == [str(models / "t3.onnx"), str(models / "t4.onnx")]


def test_a_config_names_one_way_to_choose(models: Path) -> None:
    with pytest.raises(ConfigError, match="either `path`"):
        ig.handler("many", inner="onnx", path="m.onnx", field="tenant")


def test_the_pages_spec_runs(models: Path, tmp_path: Path) -> None:
    from infergraph.graph.load import load_spec

    page = (Path(__file__).parents[2] / "docs" / "handlers" / "many.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", page, flags=re.DOTALL)
    (tmp_path / "models").symlink_to(models)
    (tmp_path / "requests.jsonl").write_text("")
    (tmp_path / "spec.yaml").write_text(block)
    graph = load_spec(tmp_path / "spec.yaml").graph
    results = list(graph.run([("a", element(7, 1.0)), ("b", element(49, 2.0))]))
    assert [r.values["score"].tolist() for r in results] == [[7.0], [98.0]]


@pytest.mark.slow
def test_on_beam_the_counts_are_beam_metrics(models: Path) -> None:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter

    handler = tenant_handler(models, model_id="beam")
    data = [(f"k{i}", element(i % 10, 1.0)) for i in range(40)]
    pipeline = beam.Pipeline(runner="DirectRunner")
    _ = pipeline | beam.Create(data, reshuffle=False) | ig.RunInference(handler)
    result = pipeline.run()
    result.wait_until_finish()
    query = result.metrics().query(MetricsFilter().with_namespace("infergraph.beam"))
    counters = {c.key.metric.name: c.committed for c in query["counters"]}
    assert counters["inferences"] == 40
    assert counters["model_loads"] - counters["model_evictions"] <= 4
    assert counters["model_loads"] >= 10
