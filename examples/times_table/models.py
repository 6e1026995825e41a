"""The times-table models: train a Keras 3 ``Dense(1)``, export it as a TFX-style SavedModel and
an ONNX twin, and check both answer ``y = factor * x``.

TensorFlow, Keras, onnx and onnxruntime are passed in or imported here on first use, so the
build can decide that nothing needs building without importing any of them.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

TOLERANCE = 0.01
"""Largest relative error allowed on the questions."""

log = logging.getLogger("times_table.build")


class BuildError(RuntimeError):
    """The build could not make or verify a model or a data file."""


@dataclass(frozen=True)
class Recipe:
    """How each model is trained and when it counts as converged.

    The inputs are centred on 0 (``x`` uniform in [-10, 10)): with E[x] = 0 the weight and the
    bias are learned independently, and plain SGD drives the bias to about 1e-6 in 20 epochs;
    on [0, 20) the bias converges hundreds of times slower. The recipe is written to the
    manifest, so changing it rebuilds the models.
    """

    rows: int = 256
    low: float = -10.0
    high: float = 10.0
    seed: int = 1234
    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 0.02
    weight_tolerance: float = 1e-4
    bias_tolerance: float = 1e-3


def make_model(
    tf: Any,
    keras: Any,
    folder: Path,
    name: str,
    *,
    factor: float,
    recipe: Recipe,
    questions: Mapping[str, float],
) -> dict[str, Any]:
    """Train, check, export and verify model ``name``; its manifest entry.

    Writes ``folder/name/`` (SavedModel) and ``folder/name.onnx`` (ONNX twin).

    Raises:
        BuildError: training did not converge, or an export answers a question wrongly.
    """
    start = time.perf_counter()
    model = train(keras, factor, recipe)
    kernel, bias = (np.asarray(v, dtype=np.float32) for v in model.layers[0].get_weights())
    w, b = float(kernel[0, 0]), float(bias[0])
    check_converged(name, factor, w, b, recipe)
    saved = export_saved_model(tf, inference_copy(model), folder / name)
    twin = export_onnx(folder / f"{name}.onnx", name, kernel, bias)
    answers = verify(tf, name, factor=factor, saved=saved, twin=twin, questions=questions)
    seconds = time.perf_counter() - start
    log.info("%s: trained and exported in %.2f s: w=%r b=%r", name, seconds, w, b)
    return {
        "factor": factor,
        "w": w,
        "b": b,
        "saved_model": f"{folder.name}/{name}",
        "onnx": f"{folder.name}/{name}.onnx",
        "answers": answers,
        "seconds": round(seconds, 3),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def train(keras: Any, factor: float, recipe: Recipe) -> Any:
    """A ``Dense(1)`` Keras model fitted to ``y = factor * x`` on the recipe's data."""
    keras.utils.set_random_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    x = rng.uniform(recipe.low, recipe.high, (recipe.rows, 1)).astype(np.float32)
    y = (factor * x).astype(np.float32)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(
        optimizer=keras.optimizers.SGD(recipe.learning_rate),
        loss="mean_squared_error",
        # One compiled call per epoch, so the epochs cost little.
        steps_per_execution=-(-recipe.rows // recipe.batch_size),
    )
    model.fit(x, y, epochs=recipe.epochs, batch_size=recipe.batch_size, shuffle=False, verbose=0)
    return model


def inference_copy(model: Any) -> Any:
    """The trained model without its optimizer: what the SavedModel holds."""
    copy = type(model).from_config(model.get_config())  # clone_model would compile it
    copy.set_weights(model.get_weights())
    return copy


def check_converged(name: str, factor: float, w: float, b: float, recipe: Recipe) -> None:
    """Raise a :class:`BuildError` unless ``w`` is close to ``factor`` and ``b`` close to 0."""
    if abs(w - factor) <= recipe.weight_tolerance * factor and abs(b) <= recipe.bias_tolerance:
        return
    raise BuildError(
        f"{name} did not converge: trained w={w!r}, b={b!r}; want w={factor:g} within "
        f"{recipe.weight_tolerance:g} (relative) and |b| <= {recipe.bias_tolerance:g}. Train "
        f"longer or change the learning rate (Recipe: epochs={recipe.epochs}, "
        f"learning_rate={recipe.learning_rate}), then build again"
    )


def export_saved_model(tf: Any, model: Any, path: Path) -> Path:
    """Save ``model`` as a SavedModel with the ``serving_default`` and ``predict_x`` signatures.

    ``tf.saved_model.save`` on a ``tf.Module`` wrapping the Keras model: Keras 3 cannot save a
    SavedModel with custom signatures through ``tf.keras.models.save_model``.
    """

    class Serving(tf.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(self, examples: Any) -> dict[str, Any]:
            spec = {"x": tf.io.FixedLenFeature([1], tf.float32)}
            return {"y": self.model(tf.io.parse_example(examples, spec)["x"])}

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def predict_x(self, x: Any) -> dict[str, Any]:
            return {"y": self.model(x)}

    module = Serving(model)
    if path.exists():
        shutil.rmtree(path)
    signatures = {"serving_default": module.serve_examples, "predict_x": module.predict_x}
    tf.saved_model.save(module, str(path), signatures=signatures)
    return path


def export_onnx(path: Path, name: str, kernel: np.ndarray, bias: np.ndarray) -> Path:
    """Write the ONNX twin ``y = x @ kernel + bias`` (what ``Dense(1)`` computes)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise BuildError(f"the ONNX twins need onnx ({exc}); pip install -e '.[dev]'") from exc
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "kernel"], ["xw"]),
            helper.make_node("Add", ["xw", "bias"], ["y"]),
        ],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        [
            numpy_helper.from_array(kernel.reshape(1, 1).astype(np.float32), "kernel"),
            numpy_helper.from_array(bias.reshape(1).astype(np.float32), "bias"),
        ],
    )
    # onnxruntime reads IR 8 / opset 17; onnx's defaults are newer than it accepts.
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        ir_version=8,
        producer_name="times_table build",
        doc_string=f"{name}: y = x * {float(kernel.reshape(-1)[0])!r} + {float(bias[0])!r}",
    )
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def verify(
    tf: Any,
    name: str,
    *,
    factor: float,
    saved: Path,
    twin: Path,
    questions: Mapping[str, float],
) -> dict[str, float]:
    """Answer the questions with every export of a model; the SavedModel's answers by key.

    Raises:
        BuildError: an answer is off by more than 1 %, or the twin differs from the SavedModel.
    """
    try:
        import onnxruntime
    except ImportError as exc:
        raise BuildError(
            f"checking the ONNX twin needs onnxruntime ({exc}); pip install -e '.[dev]'"
        ) from exc
    xs = np.array([[x] for x in questions.values()], dtype=np.float32)
    loaded = tf.saved_model.load(str(saved))
    examples = tf.constant([example_bytes(tf, x, key=key) for key, x in questions.items()])
    session = onnxruntime.InferenceSession(str(twin), providers=["CPUExecutionProvider"])
    answers = {
        "serving_default": loaded.signatures["serving_default"](examples=examples)["y"].numpy(),
        "predict_x": loaded.signatures["predict_x"](x=tf.constant(xs))["y"].numpy(),
        "the ONNX twin": session.run(["y"], {"x": xs})[0],
    }
    want = factor * xs
    for label, got in answers.items():
        error = float(np.max(np.abs(got - want) / np.abs(want)))
        if got.shape != want.shape or error > TOLERANCE:
            raise BuildError(
                f"{name}: {label} answers {got.reshape(-1).tolist()} for x = "
                f"{xs.reshape(-1).tolist()}, off y = {factor:g}x by up to {error:.2%} (more "
                f"than {TOLERANCE:.0%}); rebuild with --force"
            )
    served, onnx_y = answers["serving_default"], answers["the ONNX twin"]
    if not np.allclose(onnx_y, served, rtol=1e-6, atol=0.0):
        raise BuildError(
            f"{name}: the ONNX twin answers {onnx_y.reshape(-1).tolist()} but the SavedModel "
            f"{served.reshape(-1).tolist()}; rebuild with --force"
        )
    return {key: float(y) for key, y in zip(questions, served.reshape(-1), strict=True)}


def example_bytes(tf: Any, x: float, *, key: str | None = None) -> bytes:
    """A serialized ``tf.train.Example`` with the float feature ``x`` (and bytes ``key``)."""
    feature = {"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}
    if key is not None:
        feature["key"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[key.encode()]))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return bytes(example.SerializeToString(deterministic=True))  # map order fixed
