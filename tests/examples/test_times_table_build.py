"""The times-table example's build: trained models, their exports, the data, the manifest, the
adapters, and the models run through infergraph's own handlers."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import infergraph as ig
from examples.times_table import adapters, build, models
from infergraph.core.tfexample import make_example
from infergraph.io.sources import Source
from infergraph.io.tfrecord import read_records

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "times_table" / "build.py"
QUESTIONS = {
    "first_question": 105.0,
    "second_question": 108.0,
    "third_question": 1000.0,
    "fourth_question": 1013.0,
}
FACTORS = {"times_5": 5.0, "times_10": 10.0}
Manifest = dict[str, Any]
Loaded = dict[str, Any]  # model name -> what tf.saved_model.load returned


def run_python(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The script run once, from another folder, into a fresh one: (out, its stdout)."""
    out = tmp_path_factory.mktemp("times_table") / "work"
    start = time.perf_counter()
    done = run_python(str(SCRIPT), "--out", str(out), cwd=out.parent)
    assert done.returncode == 0, done.stderr
    print(f"cold build: {time.perf_counter() - start:.2f} s")
    return out, done.stdout


@pytest.fixture(scope="session")
def out(built: tuple[Path, str]) -> Path:
    return built[0]


@pytest.fixture(scope="session")
def manifest(out: Path) -> Manifest:
    return json.loads((out / "build.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def loaded(out: Path) -> Loaded:
    import tensorflow as tf

    return {name: tf.saved_model.load(str(out / "models" / name)) for name in FACTORS}


def serialized_questions(out: Path) -> list[bytes]:
    with open(out / "data" / "inputs.tfrecord", "rb") as stream:
        records = [data for _, data in read_records(stream)]
    assert all(isinstance(r, bytes) for r in records)
    return records  # type: ignore[return-value]


def within_one_percent(got: Any, factor: float) -> bool:
    xs = np.array(list(QUESTIONS.values()), np.float32)
    got = np.asarray(got, np.float64).reshape(-1)
    return bool(np.all(np.abs(got - factor * xs) <= 0.01 * factor * xs))


# -- the build -----------------------------------------------------------------------------------


def test_the_script_builds_models_data_and_manifest(
    built: tuple[Path, str], manifest: Manifest
) -> None:
    out, stdout = built
    assert "built times_5, times_10, data in" in stdout
    assert manifest["build_version"] == build.BUILD_VERSION
    assert manifest["recipe"] == {
        "rows": 256,
        "low": -10.0,
        "high": 10.0,
        "seed": 1234,
        "epochs": 20,
        "batch_size": 16,
        "learning_rate": 0.02,
        "weight_tolerance": 1e-4,
        "bias_tolerance": 1e-3,
    }
    for name, factor in FACTORS.items():
        entry = manifest["models"][name]
        assert (out / entry["saved_model"] / "saved_model.pb").is_file()
        assert (out / entry["onnx"]).is_file()
        assert abs(entry["w"] - factor) <= 1e-4 * factor and abs(entry["b"]) <= 1e-3
        assert f"{name}: w={entry['w']!r} b={entry['b']!r} (built)" in stdout
        assert list(entry["answers"]) == list(QUESTIONS)
        assert within_one_percent(list(entry["answers"].values()), factor)
        assert entry["versions"]["tensorflow"] and entry["versions"]["keras"].startswith("3.")
    assert manifest["data"]["questions"] == QUESTIONS


@pytest.mark.parametrize("name", FACTORS)
def test_savedmodel_signatures_answer_the_questions(out: Path, loaded: Loaded, name: str) -> None:
    import tensorflow as tf

    signatures = loaded[name].signatures
    serving, predict_x = signatures["serving_default"], signatures["predict_x"]
    (spec,) = serving.structured_input_signature[1].values()
    assert (spec.name, spec.dtype, spec.shape.as_list()) == ("examples", tf.string, [None])
    assert {k: (v.dtype, v.shape.as_list()) for k, v in serving.structured_outputs.items()} == {
        "y": (tf.float32, [None, 1])
    }
    (spec,) = predict_x.structured_input_signature[1].values()
    assert (spec.name, spec.dtype, spec.shape.as_list()) == ("x", tf.float32, [None, 1])

    records = serialized_questions(out)  # each holds "key" and "x"; the signature parses "x"
    served = serving(examples=tf.constant(records))["y"].numpy()
    assert served.shape == (4, 1) and served.dtype == np.float32
    assert within_one_percent(served, FACTORS[name])
    xs = np.array([[x] for x in QUESTIONS.values()], np.float32)
    np.testing.assert_array_equal(predict_x(x=tf.constant(xs))["y"].numpy(), served)


@pytest.mark.parametrize("name", FACTORS)
def test_the_onnx_twin_matches_the_savedmodel(
    out: Path, loaded: Loaded, manifest: Manifest, name: str
) -> None:
    import onnx
    import onnxruntime
    import tensorflow as tf
    from onnx import numpy_helper

    model = onnx.load(str(out / "models" / f"{name}.onnx"))
    assert model.ir_version == 8 and [o.version for o in model.opset_import] == [17]
    assert [node.op_type for node in model.graph.node] == ["MatMul", "Add"]
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert weights["kernel"].tolist() == [[manifest["models"][name]["w"]]]
    assert weights["bias"].tolist() == [manifest["models"][name]["b"]]

    session = onnxruntime.InferenceSession(
        str(out / "models" / f"{name}.onnx"), providers=["CPUExecutionProvider"]
    )
    (x_info,), (y_info,) = session.get_inputs(), session.get_outputs()
    assert (x_info.name, x_info.type, x_info.shape[1]) == ("x", "tensor(float)", 1)
    assert (y_info.name, y_info.type, y_info.shape[1]) == ("y", "tensor(float)", 1)
    xs = np.array([[x] for x in [*QUESTIONS.values(), -3.5, 0.0, 0.25, 12345.0]], np.float32)
    (twin,) = session.run(["y"], {"x": xs})
    saved = loaded[name].signatures["predict_x"](x=tf.constant(xs))["y"].numpy()
    np.testing.assert_allclose(twin, saved, rtol=1e-6, atol=1e-6)
    assert within_one_percent(twin[:4], FACTORS[name])


def test_the_savedmodel_holds_the_trained_weights_and_no_optimizer(
    out: Path, manifest: Manifest
) -> None:
    import tensorflow as tf

    for name in FACTORS:
        prefix = str(out / "models" / name / "variables" / "variables")
        shapes = dict(tf.train.list_variables(prefix))
        del shapes["_CHECKPOINTABLE_OBJECT_GRAPH"]
        assert sorted(shapes.values()) == [[1], [1, 1]], shapes  # a kernel and a bias, only
        reader = tf.train.load_checkpoint(prefix)
        values = {tuple(shape): reader.get_tensor(var) for var, shape in shapes.items()}
        assert float(values[(1, 1)][0, 0]) == manifest["models"][name]["w"]
        assert float(values[(1,)][0]) == manifest["models"][name]["b"]


def test_the_data_files_hold_the_four_keyed_questions(out: Path) -> None:
    from tensorflow.core.example import example_pb2

    records = [example_pb2.Example.FromString(r) for r in serialized_questions(out)]
    got = [
        (
            r.features.feature["key"].bytes_list.value[0].decode(),
            list(r.features.feature["x"].float_list.value),
        )
        for r in records
    ]
    assert got == [(key, [x]) for key, x in QUESTIONS.items()]
    with open(out / "data" / "inputs.csv", newline="") as stream:
        assert list(csv.reader(stream)) == [
            ["key", "x"],
            *([key, repr(x)] for key, x in QUESTIONS.items()),
        ]
    lines = (out / "data" / "inputs.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"key": key, "x": [x]} for key, x in QUESTIONS.items()
    ]


def test_infergraph_reads_the_data_files_with_their_keys(out: Path) -> None:
    def read(source: Source, name: str) -> list[Any]:
        with open(out / "data" / name, "rb") as stream:
            return list(source.read(stream, name))

    tfrecords = read(Source("tfrecord", key_field="key"), "inputs.tfrecord")
    assert [key for key, _ in tfrecords] == list(QUESTIONS)
    assert [adapters.x_of(example) for _, example in tfrecords] == list(QUESTIONS.values())
    assert read(Source("csv", key_field="key", input_field="x"), "inputs.csv") == list(
        QUESTIONS.items()
    )
    assert read(Source("jsonl", key_field="key"), "inputs.jsonl") == [
        (key, {"x": [x]}) for key, x in QUESTIONS.items()
    ]


# -- rebuilding ----------------------------------------------------------------------------------


def stamps(out: Path) -> dict[str, int]:
    return {
        str(path.relative_to(out)): path.stat().st_mtime_ns
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }


def test_a_second_build_is_a_no_op_without_tensorflow(out: Path) -> None:
    before = stamps(out)
    check = (
        "import sys; from examples.times_table import build; "
        f"r = build.build(build.Path({str(out)!r})); "
        "print(r.built, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    done = run_python("-c", check)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["()", "False", "False"]
    assert stamps(out) == before
    result = build.build(out)  # in this process too
    assert result.built == ()
    assert stamps(out) == before


def test_force_rebuilds_everything_to_the_same_weights(
    out: Path, manifest: Manifest, tmp_path: Path
) -> None:
    copy = tmp_path / "work"
    shutil.copytree(out, copy)
    before = stamps(copy)
    done = run_python(str(SCRIPT), "--out", str(copy), "--force")
    assert done.returncode == 0, done.stderr
    assert "built times_5, times_10, data in" in done.stdout
    after = stamps(copy)
    assert after.keys() == before.keys()
    for name in ("models/times_5/saved_model.pb", "models/times_10.onnx", "data/inputs.csv"):
        assert after[name] > before[name]
    rebuilt = json.loads((copy / "build.json").read_text())
    for name in FACTORS:  # deterministic: the same weights and answers
        for field in ("w", "b", "answers"):
            assert rebuilt["models"][name][field] == manifest["models"][name][field]
    for name in ("models/times_5.onnx", "models/times_10.onnx", "data/inputs.tfrecord"):
        assert (copy / name).read_bytes() == (out / name).read_bytes()


def test_the_plan_rebuilds_only_what_is_missing_or_stale(
    out: Path, manifest: Manifest, tmp_path: Path
) -> None:
    recipe = models.Recipe()
    copy = tmp_path / "work"
    shutil.copytree(out, copy)

    def plan(data: dict[str, Any] | None = None, *, force: bool = False) -> build.Plan:
        return build.plan(copy, data if data is not None else manifest, force=force, recipe=recipe)

    assert plan() == build.Plan((), False, True)
    assert plan(force=True) == build.Plan(("times_5", "times_10"), True, False)  # everything
    assert build.plan(copy, None, force=False, recipe=recipe).models == ("times_5", "times_10")
    everything = build.Plan(("times_5", "times_10"), True, False)
    assert plan({**manifest, "build_version": 0}) == everything
    other = models.Recipe(epochs=21)
    assert build.plan(copy, manifest, force=False, recipe=other).keep_manifest is False
    (copy / "models" / "times_10.onnx").unlink()
    (copy / "data" / "inputs.csv").unlink()
    assert plan() == build.Plan(("times_10",), True, True)
    (copy / "build.json").write_text("{not json")
    assert build.read_manifest(copy) is None


def test_a_build_that_does_not_converge_fails_clearly_and_records_nothing(tmp_path: Path) -> None:
    check = (
        "from examples.times_table import build, models; "
        f"build.build(build.Path({str(tmp_path)!r}), "
        "recipe=models.Recipe(epochs=1, learning_rate=1e-5))"
    )
    done = run_python("-c", check)
    assert done.returncode == 1
    assert "BuildError: times_5 did not converge: trained w=" in done.stderr
    assert "Train longer or change the learning rate (Recipe: epochs=1" in done.stderr
    assert json.loads((tmp_path / "build.json").read_text())["models"] == {}


def test_the_build_rejects_an_onnx_twin_that_disagrees(out: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    saved = out / "models" / "times_5"
    wrong = models.export_onnx(
        tmp_path / "off.onnx", "off", np.array([[5.2]], np.float32), np.zeros(1, np.float32)
    )
    with pytest.raises(models.BuildError, match=r"times_5: the ONNX twin answers .* off y = 5x"):
        models.verify(tf, "times_5", factor=5.0, saved=saved, twin=wrong, questions=QUESTIONS)
    close = models.export_onnx(
        tmp_path / "close.onnx", "close", np.array([[5.0]], np.float32), np.full(1, 0.5, np.float32)
    )
    with pytest.raises(models.BuildError, match=r"the ONNX twin answers .* but the SavedModel"):
        models.verify(tf, "times_5", factor=5.0, saved=saved, twin=close, questions=QUESTIONS)


def test_convergence_check_names_the_model_and_the_fix() -> None:
    recipe = models.Recipe()
    models.check_converged("times_5", 5.0, 5.0004, 0.0009, recipe)
    with pytest.raises(
        models.BuildError,
        match=r"times_10 did not converge: trained w=10\.0, "
        r"b=0\.5; want w=10 within 0\.0001 \(relative\) and \|b\| <= 0\.001",
    ):
        models.check_converged("times_10", 10.0, 10.0, 0.5, recipe)


# -- the adapters ----------------------------------------------------------------------------------


def test_adapters_on_real_values(out: Path, loaded: Loaded) -> None:
    import tensorflow as tf

    records = serialized_questions(out)
    five = loaded["times_5"].signatures["serving_default"](examples=tf.constant(records))["y"]
    rows = list(five.numpy())  # what a handler yields per element: float32 arrays of shape [1]
    assert adapters.describe(records[0], rows[0]) == f"input is [105.] output is {rows[0]}"
    assert adapters.describe(records[0], np.array([524.9999], np.float32)) == (
        "input is [105.] output is [524.9999]"
    )
    assert adapters.describe({"x": 105.0}, {"y": np.array([525.0])}) == (
        "input is [105.] output is [525.]"
    )
    assert [adapters.x_of(r) for r in records] == list(QUESTIONS.values())

    chained = [adapters.to_example(y) for y in rows]
    assert [adapters.x_of(e) for e in chained] == [float(y[0]) for y in rows]
    ten = loaded["times_10"].signatures["serving_default"](examples=tf.constant(chained))["y"]
    assert within_one_percent(ten.numpy(), 50.0)
    xs = np.stack([adapters.to_x(y) for y in rows])
    assert xs.dtype == np.float32 and xs.shape == (4, 1)
    np.testing.assert_array_equal(xs, five.numpy())


def test_to_example_matches_tensorflow_and_infergraph_bytes() -> None:
    import tensorflow as tf

    made = adapters.to_example(np.float32(525.0))
    reference = tf.train.Example(
        features=tf.train.Features(
            feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[525.0]))}
        )
    )
    assert made == reference.SerializeToString() == make_example({"x": [525.0]})
    assert adapters.x_of(reference) == 525.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.array([105.0]), 105.0),
        ([108.0], 108.0),
        (1000, 1000.0),
        ({"x": [1013.0]}, 1013.0),
        ({"x": np.array([[2.5]], np.float32)}, 2.5),
    ],
)
def test_x_of_every_input_form(value: Any, expected: float) -> None:
    assert adapters.x_of(value) == expected
    assert type(adapters.x_of(value)) is float


def key_only() -> bytes:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature["key"].bytes_list.value.append(b"first_question")
    return example.SerializeToString()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: adapters.x_of(b"\xff\xfe junk"), "x_of: the input bytes are not a serialized"),
        (lambda: adapters.x_of(key_only()), "x_of: the tf.train.Example has no feature 'x'; its"),
        (lambda: adapters.x_of({"value": 1.0}), "x_of: the input has no 'x'; its fields are"),
        (lambda: adapters.describe([1.0, 2.0], 3.0), "describe: the input x must hold exactly"),
        (lambda: adapters.to_x(np.zeros(3)), "to_x: the model output must hold exactly one"),
        (lambda: adapters.to_example({"z": 1}), "to_example: the model output has no 'y'"),
        (lambda: adapters.to_x("many"), "to_x: the model output 'many' is not a number"),
    ],
)
def test_adapters_reject_bad_values_by_name(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


# -- through infergraph's handlers ---------------------------------------------------------------


def test_the_models_run_through_infergraph_handlers(out: Path) -> None:
    records = serialized_questions(out)
    keyed = list(zip(QUESTIONS, records, strict=True))
    rows = [(key, np.array([x], np.float32)) for key, x in QUESTIONS.items()]
    for name, factor in FACTORS.items():
        path = out / "models" / name
        runs = {
            "serving_default": ig.predict(ig.handler("tensorflow", path=str(path)), keyed),
            "predict_x": ig.predict(
                ig.handler("tensorflow", path=str(path), signature="predict_x"), rows
            ),
            "onnx": ig.predict(ig.handler("onnx", path=f"{path}.onnx"), rows),
        }
        answers = {}
        for label, results in runs.items():
            predictions = list(results)
            assert all(isinstance(p, ig.Prediction) for p in predictions), predictions
            assert [p.key for p in predictions] == list(QUESTIONS), label
            answers[label] = np.stack([p.output for p in predictions])  # type: ignore[union-attr]
            assert answers[label].shape == (4, 1), label
            assert within_one_percent(answers[label], factor), label
        np.testing.assert_allclose(answers["onnx"], answers["serving_default"], rtol=1e-6)


def test_a_chain_through_the_adapters_with_infergraph(out: Path) -> None:
    keyed = list(zip(QUESTIONS, serialized_questions(out), strict=True))
    five = ig.handler("tensorflow", path=str(out / "models" / "times_5"))
    fives = [(p.key, p.output) for p in ig.predict(five, keyed)]  # type: ignore[union-attr]
    ten_saved = ig.handler("tensorflow", path=str(out / "models" / "times_10"))
    ten_onnx = ig.handler("onnx", path=str(out / "models" / "times_10.onnx"))
    by_example = list(ig.predict(ten_saved, [(k, adapters.to_example(y)) for k, y in fives]))
    by_row = list(ig.predict(ten_onnx, [(k, adapters.to_x(y)) for k, y in fives]))
    for results in (by_example, by_row):
        assert [r.key for r in results] == list(QUESTIONS)
        assert within_one_percent([r.output for r in results], 50.0)  # type: ignore[union-attr]
    for (key, example), (_, y) in zip(keyed, fives, strict=True):
        assert adapters.describe(example, y) == f"input is [{QUESTIONS[key]:.0f}.] output is {y}"


def test_describe_reads_tf_example_messages(out: Path) -> None:
    from tensorflow.core.example import example_pb2

    message = example_pb2.Example.FromString(serialized_questions(out)[1])
    assert adapters.describe(message, np.float32(540.0)) == "input is [108.] output is [540.]"
