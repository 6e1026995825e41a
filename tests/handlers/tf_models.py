"""SavedModels the TensorFlow handler tests build: small, deterministic, exported several ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import infergraph as ig


def _tf() -> Any:
    import tensorflow as tf

    return tf


def linear_examples(path: Path) -> Path:
    """``y = 5x`` whose serving signature parses serialized ``tf.train.Example`` protos.

    The signature (``serving_default``) takes a string tensor ``examples`` of shape ``[None]``,
    each a ``tf.train.Example`` with a float feature ``x``; it returns ``output_0`` of shape
    ``[None, 1]``. A second signature ``predict_tensor`` takes the float tensor directly.
    """
    tf = _tf()

    class Linear(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable([[5.0]])

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def parse_and_predict(self, examples: Any) -> Any:
            features = tf.io.parse_example(
                examples, {"x": tf.io.FixedLenFeature([1], tf.float32)}
            )
            return {"output_0": tf.matmul(features["x"], self.w)}

        @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
        def predict_tensor(self, x: Any) -> Any:
            return {"output_0": tf.matmul(x, self.w)}

    module = Linear()
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "serving_default": module.parse_and_predict,
            "predict_tensor": module.predict_tensor,
        },
    )
    return path


def two_inputs(path: Path) -> Path:
    """``sum = a + 10 b`` over ``a`` (float32 ``[None, 2]``) and ``b`` (int64 ``[None, 2]``)."""
    tf = _tf()

    class TwoInputs(tf.Module):
        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 2], tf.float32, name="a"),
                tf.TensorSpec([None, 2], tf.int64, name="b"),
            ]
        )
        def serve(self, a: Any, b: Any) -> Any:
            return {"sum": a + 10.0 * tf.cast(b, tf.float32)}

    module = TwoInputs()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def two_outputs(path: Path) -> Path:
    """Outputs ``double`` (``2x``, float32 ``[None, 3]``) and ``total`` (row sum, ``[None]``)."""
    tf = _tf()

    class TwoOutputs(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
        def serve(self, x: Any) -> Any:
            return {"double": 2.0 * x, "total": tf.reduce_sum(x, axis=1)}

    module = TwoOutputs()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def fixed_batch(path: Path) -> Path:
    """A Keras 3 ``Dense(1)`` (kernel 3, bias 0) exported with a static batch of 2: its
    ``serving_default`` takes ``x`` of shape ``[2, 1]``, as many exported models do."""
    import keras

    tf = _tf()
    inputs = keras.Input(shape=(1,), name="x")
    outputs = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(3.0))(inputs)
    model = keras.Model(inputs, outputs)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serving_default",
        fn=model.call,
        input_signature=[tf.TensorSpec([2, 1], tf.float32, name="x")],
    )
    archive.write_out(str(path), verbose=False)
    return path


def keras3_dense(path: Path) -> Path:
    """A Keras 3 ``Dense(2)`` on 4 features (kernel ones, bias 0) from ``model.export``."""
    import keras

    inputs = keras.Input(shape=(4,), name="features")
    outputs = keras.layers.Dense(2, kernel_initializer="ones", name="scores")(inputs)
    model = keras.Model(inputs, outputs)
    model.export(str(path), verbose=False)
    return path


def tf_keras_dense(path: Path) -> Path:
    """A tf-keras 2 ``Dense(2)`` on 4 features (kernel all ones, bias 0) saved as a SavedModel."""
    import tf_keras

    inputs = tf_keras.Input(shape=(4,), name="features")
    outputs = tf_keras.layers.Dense(2, kernel_initializer="ones", name="scores")(inputs)
    model = tf_keras.Model(inputs, outputs)
    model.save(str(path), save_format="tf")
    return path


def serialized_example(x: float) -> bytes:
    """A serialized ``tf.train.Example`` with the float feature ``x``."""
    return example_proto(x).SerializeToString()  # type: ignore[no-any-return]


def example_proto(x: float) -> Any:
    """A ``tf.train.Example`` with the float feature ``x``."""
    tf = _tf()
    return tf.train.Example(
        features=tf.train.Features(
            feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}
        )
    )


_BUILT: dict[str, Path] = {}


def saved_models(base: Path) -> dict[str, Path]:
    """Every test SavedModel by name, built once per process under ``base``."""
    if not _BUILT:
        builders = (
            linear_examples, two_inputs, two_outputs, keras3_dense, tf_keras_dense, fixed_batch
        )
        for builder in builders:
            _BUILT[builder.__name__] = builder(base / builder.__name__)
    return _BUILT


def report_placement(path: str) -> None:
    """Split the CPU into two logical devices, run the handler on ``/CPU:1``, print where.

    Run it in a fresh process (device setup is fixed once TensorFlow initializes) on the linear
    model; it prints ``name=value`` lines.
    """
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
    handler = ig.handler("tensorflow", path=path, signature="predict_tensor",
                         logical_device="/CPU:1")
    model = handler.load()
    output = model.call(np.ones((2, 1), np.float32))["output_0"]
    print(f"logical={model.device}")
    print(f"output_device={output.device}")
    print(f"variable_device={model.loaded.w.device}")
    print(f"value={float(output[0, 0])}")
    default = ig.handler("tensorflow", path=path, signature="predict_tensor").load()
    print(f"default_output_device={default.call(np.ones((1, 1), np.float32))['output_0'].device}")
    try:
        ig.handler("tensorflow", path=path, logical_device="/CPU:5").load()
    except ig.DeviceError as exc:
        print(f"missing=DeviceError: {exc}")
