"""The worked plugin, examples/infergraph-sklearn, installed by the set-up (make setup)."""

from __future__ import annotations

import json
import pickle
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

import infergraph as ig
from infergraph.cli import main
from infergraph.testing import check_handler, run_on_beam

EXAMPLE = Path(__file__).parents[2] / "examples" / "infergraph-sklearn"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def plugins() -> ig.Plugins:
    try:
        version("infergraph-sklearn")
    except PackageNotFoundError:
        pytest.fail("examples/infergraph-sklearn is not installed: run `make setup`")
    return ig.get_plugin_manager()


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, LogisticRegression, np.ndarray]:
    """A LogisticRegression fitted on the iris data (shipped with scikit-learn), as joblib."""
    data = load_iris()
    model = LogisticRegression(max_iter=1000).fit(data.data, data.target)
    path = tmp_path_factory.mktemp("sklearn") / "iris.joblib"
    joblib.dump(model, path)
    return path, model, data.data


def test_the_installed_plugin_is_the_example_in_this_repository(plugins: ig.Plugins) -> None:
    import infergraph_sklearn

    assert Path(infergraph_sklearn.__file__).resolve().is_relative_to(EXAMPLE.resolve())
    entry = plugins.get("sklearn")
    assert (entry.plugin, entry.package) == ("sklearn", "infergraph-sklearn 0.1.0")


def test_passes_the_conformance_suite(plugins: ig.Plugins, iris) -> None:
    path, model, rows = iris
    handler = ig.handler("sklearn", plugins=plugins, path=str(path))
    predictions = check_handler(handler, [rows[0], rows[60], rows[120]])
    assert [int(p.output) for p in predictions] == list(model.predict(rows[[0, 60, 120]]))
    assert handler.model_id == f"sklearn:{path}"


def test_probabilities_from_dicts_by_feature_name(plugins: ig.Plugins, iris) -> None:
    path, model, rows = iris
    handler = ig.handler(
        "sklearn", plugins=plugins, path=str(path), method="predict_proba", features=FEATURES
    )
    # The dicts' field order does not matter: `features` gives the model's order.
    examples = [dict(reversed(list(zip(FEATURES, row, strict=True)))) for row in rows[:5]]
    # Probabilities may differ in the last bit between batch sizes (BLAS), and Beam batches
    # as it likes: the Beam path is compared with a tolerance.
    predictions = check_handler(handler, examples, beam=False)
    expected = model.predict_proba(rows[:5])
    np.testing.assert_allclose(np.stack([p.output for p in predictions]), expected, rtol=1e-12)
    on_beam = sorted(run_on_beam(handler, list(enumerate(examples))), key=lambda r: r.key)
    np.testing.assert_allclose(np.stack([r.output for r in on_beam]), expected, rtol=1e-12)


def test_keys_blocks_and_failures_on_both_paths(plugins: ig.Plugins, iris) -> None:
    path, model, rows = iris
    handler = ig.handler(
        "sklearn", plugins=plugins, path=str(path), features=FEATURES, max_batch_size=2
    )
    columns = {name: rows[:7, i] for i, name in enumerate(FEATURES)}
    data = [
        ("row", rows[100]),
        ("dict", dict(zip(FEATURES, rows[50], strict=True))),
        ("short", [1.0, 2.0]),
        ("lacks", {"sepal_length": 5.0}),
        ("block", ig.Block(rows[:7])),
        ("columns", ig.Block(columns)),
    ]
    expected = model.predict(rows)
    for results in (list(ig.predict(handler, data)), run_on_beam(handler, data)):
        by_key = {r.key: r for r in results}
        assert sorted(by_key) == sorted(key for key, _ in data)
        assert int(by_key["row"].output) == expected[100]
        assert int(by_key["dict"].output) == expected[50]
        np.testing.assert_array_equal(by_key["block"].output, expected[:7])
        np.testing.assert_array_equal(by_key["columns"].output, expected[:7])
        short, lacks = by_key["short"], by_key["lacks"]
        assert isinstance(short, ig.Failure) and short.stage == "run"
        assert "features" in short.message  # scikit-learn's message: 2 features, expects 4
        assert isinstance(lacks, ig.Failure) and lacks.error_type == "InputError"
        assert "lacks the features ['sepal_width', 'petal_length', 'petal_width']" in (
            lacks.message
        )


def test_through_the_command_line(plugins: ig.Plugins, iris, tmp_path: Path) -> None:
    path, model, rows = iris
    source = tmp_path / "flowers.jsonl"
    records = [{"id": f"f{i}", **dict(zip(FEATURES, rows[i], strict=True))} for i in (0, 75)]
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "species.jsonl"
    args = ["predict", "--handler", "sklearn", "--model", str(path), "--input", str(source)]
    args += ["--output", str(out), "--key-field", "id", "--no-progress"]
    assert main([*args, "--set", f"features={json.dumps(FEATURES)}"]) == 0
    got = {r["id"]: r["output"] for r in map(json.loads, out.read_text().splitlines())}
    assert got == {"f0": int(model.predict(rows[[0]])[0]), "f75": int(model.predict(rows[[75]])[0])}


def test_a_pickle_file_and_clear_load_errors(plugins: ig.Plugins, tmp_path: Path) -> None:
    regression = LinearRegression().fit([[0.0], [1.0]], [1.0, 3.0])
    pkl = tmp_path / "line.pkl"
    pkl.write_bytes(pickle.dumps(regression))
    handler = ig.handler("sklearn", plugins=plugins, path=str(pkl))
    assert [float(r.output) for r in ig.predict(handler, [[2.0]])] == pytest.approx([5.0])

    proba = ig.handler("sklearn", plugins=plugins, path=str(pkl), method="predict_proba")
    with pytest.raises(ig.ModelLoadError, match=r"LinearRegression .* has no predict_proba\(\)"):
        list(ig.predict(proba, [[2.0]]))
    missing = ig.handler("sklearn", plugins=plugins, path=str(tmp_path / "none.joblib"))
    with pytest.raises(ig.ModelLoadError, match="not found"):
        list(ig.predict(missing, [[2.0]]))
    with pytest.raises(ig.ConfigError, match="method: Input should be 'predict' or"):
        ig.handler("sklearn", plugins=plugins, path=str(pkl), method="transform")
