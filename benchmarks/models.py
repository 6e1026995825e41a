"""The benchmark's models, built here (never downloaded): ONNX models with onnx.helper (IR 8,
opset 17) and the TensorFlow twin of the MLP as a ``tf.Module`` SavedModel.

``python -m benchmarks.models DIR`` builds every model under ``DIR`` (the suite runs it in its own
process, so the suite's parent process never imports TensorFlow).
"""

from __future__ import annotations

import argparse
import os
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

MLP_SIZES = (32, 256, 256, 8)
CHAIN_SIZES = (8, 64, 8)
IMAGE = (3, 32, 32)
CLASSES = 10

PATHS = {
    "mlp": "mlp.onnx",
    "chain_b": "chain_b.onnx",
    "conv": "conv.onnx",
    "tf_mlp": "tf_mlp",
}


def model_path(models_dir: str | Path, name: str) -> str:
    """Where ``name`` (a key of :data:`PATHS`) is built under ``models_dir``."""
    return str(Path(models_dir) / PATHS[name])


def mlp_weights(sizes: tuple[int, ...] = MLP_SIZES, seed: int = 0) -> list[np.ndarray]:
    """The MLP's weights as ``tests.onnx_models.mlp`` draws them: a kernel per layer (biases 0)."""
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        for fan_in, fan_out in pairwise(sizes)
    ]


def conv(path: Path, seed: int = 0) -> Path:
    """A small image classifier on ``x`` of shape [batch, 3, 32, 32]: two Conv (3x3, 8 then 16
    channels) + Relu + MaxPool (2x2), flattened, then a Gemm to 10 logits ``y``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def weight(name: str, *shape: int) -> Any:
        fan_in = int(np.prod(shape[1:]))
        data = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        return numpy_helper.from_array(data, name)

    def zeros(name: str, size: int) -> Any:
        return numpy_helper.from_array(np.zeros(size, dtype=np.float32), name)

    flat = 16 * (IMAGE[1] // 4) * (IMAGE[2] // 4)
    inits = [
        weight("k1", 8, IMAGE[0], 3, 3), zeros("c1", 8),
        weight("k2", 16, 8, 3, 3), zeros("c2", 16),
        numpy_helper.from_array(
            (rng.standard_normal((flat, CLASSES)) / np.sqrt(flat)).astype(np.float32), "w"
        ),
        zeros("b", CLASSES),
        numpy_helper.from_array(np.array([-1, flat], dtype=np.int64), "flat"),
    ]
    pads = [1, 1, 1, 1]
    nodes = [
        helper.make_node("Conv", ["x", "k1", "c1"], ["a1"], pads=pads),
        helper.make_node("Relu", ["a1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "k2", "c2"], ["a2"], pads=pads),
        helper.make_node("Relu", ["a2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["p2", "flat"], ["f"]),
        helper.make_node("Gemm", ["f", "w", "b"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, *IMAGE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, CLASSES])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tf_mlp(path: Path) -> Path:
    """The TensorFlow twin of the ONNX MLP (same weights, zero biases) as a ``tf.Module``.

    ``serving_default`` maps ``x`` [batch, 32] to ``{"y": [batch, 8]}`` (what the ``tensorflow``
    handler calls); the module itself is callable on a tensor and returns the tensor (what Beam's
    ``TFModelHandlerTensor`` calls after loading it with ``tf.keras.models.load_model``).
    """
    import tensorflow as tf

    kernels = mlp_weights()

    class MLP(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.kernels = [tf.Variable(k) for k in kernels]

        @tf.function(input_signature=[tf.TensorSpec([None, MLP_SIZES[0]], tf.float32, name="x")])
        def __call__(self, x: Any) -> Any:
            for kernel in self.kernels[:-1]:
                x = tf.nn.relu(tf.matmul(x, kernel))
            return tf.matmul(x, self.kernels[-1])

        @tf.function(input_signature=[tf.TensorSpec([None, MLP_SIZES[0]], tf.float32, name="x")])
        def serve(self, x: Any) -> Any:
            return {"y": self(x)}

    module = MLP()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def build_onnx(models_dir: Path) -> None:
    """The ONNX models: the MLP, the chain's second model and the convolutional model."""
    from tests.onnx_models import mlp

    mlp(Path(model_path(models_dir, "mlp")))
    mlp(Path(model_path(models_dir, "chain_b")), sizes=CHAIN_SIZES, seed=1)
    conv(Path(model_path(models_dir, "conv")))


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the benchmark's models under DIR.")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--no-tensorflow", action="store_true", help="only the ONNX models")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    build_onnx(args.dir)
    if not args.no_tensorflow:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        tf_mlp(Path(model_path(args.dir, "tf_mlp")))


if __name__ == "__main__":
    main()
