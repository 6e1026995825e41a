"""The plugin package in tests/plugin_pkg, pip-installed by the set-up (make setup)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pytest

import infergraph as ig
from infergraph.cli import main
from infergraph.testing import check_handler, run_on_beam


@pytest.fixture(scope="module")
def plugins() -> ig.Plugins:
    try:
        version("infergraph-scale")
    except PackageNotFoundError:
        pytest.fail("tests/plugin_pkg is not installed: run `make setup`")
    return ig.get_plugin_manager()


def test_discovered_through_its_entry_point(plugins: ig.Plugins) -> None:
    entry = plugins.get("scale")
    assert entry.plugin == "scale"
    assert entry.package == "infergraph-scale 1.0.0"
    assert entry.handler_cls.__module__ == "infergraph_scale"


def test_passes_the_conformance_suite(plugins: ig.Plugins) -> None:
    handler = ig.handler("scale", plugins=plugins, factor=10.0)
    predictions = check_handler(handler, [1.0, 2.5, -4.0])
    assert [float(p.output) for p in predictions] == [10.0, 25.0, -40.0]


def test_both_paths_with_keys_and_blocks(plugins: ig.Plugins) -> None:
    handler = ig.handler("scale", plugins=plugins, factor=5.0, max_batch_size=2)
    data = [("a", 105.0), ("b", 108.0), ("c", ig.Block(np.array([1000.0, 1013.0])))]
    local = list(ig.predict(handler, data))
    beam = sorted(run_on_beam(handler, data), key=lambda r: r.key)
    for results in (local, beam):
        assert [r.key for r in results] == ["a", "b", "c"]
        assert [float(r.output) for r in results[:2]] == [525.0, 540.0]
        np.testing.assert_array_equal(results[2].output, [5000.0, 5065.0])


def test_cli_lists_it_with_its_package(
    plugins: ig.Plugins, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["handlers"]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("scale"))
    assert line.split() == ["scale", "scale", "infergraph-scale", "1.0.0"]
