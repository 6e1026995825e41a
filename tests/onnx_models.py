"""Small ONNX models built with onnx.helper (IR 8, opset 17, which onnxruntime accepts)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET, ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _input(
    name: str, width: int, batch: int | None = None, kind: int = TensorProto.FLOAT
) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, kind, [batch, width])


def linear(path: Path, factor: float, batch: int | None = None) -> Path:
    """``y = factor * x`` on a [batch, 1] float input named ``x`` (``batch`` fixed if given)."""
    weight = numpy_helper.from_array(np.array([factor], dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["y"])],
        "linear",
        [_input("x", 1, batch)],
        [_input("y", 1, batch)],
        [weight],
    )
    return _save(graph, path)


def count_up(path: Path) -> Path:
    """``y = x + 1`` on a [batch, 2] int64 input ``x``."""
    one = numpy_helper.from_array(np.array([1], dtype=np.int64), "one")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "count_up",
        [_input("x", 2, kind=TensorProto.INT64)],
        [_input("y", 2, kind=TensorProto.INT64)],
        [one],
    )
    return _save(graph, path)


def widen(path: Path, width: int) -> Path:
    """``y = x * width``, computed through a [batch, width] intermediate (working memory grows
    with the batch, the output does not)."""
    ones = numpy_helper.from_array(np.ones((1, width), dtype=np.float32), "ones")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "ones"], ["wide"]),
            helper.make_node("ReduceSum", ["wide", "axes"], ["y"], keepdims=1),
        ],
        "widen",
        [_input("x", 1)],
        [_input("y", 1)],
        [ones, axes],
    )
    return _save(graph, path)


def batch_sum(path: Path) -> Path:
    """``y = sum(x)`` over the whole batch: one row whatever the batch (not a batched output)."""
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x"], ["y"], keepdims=1)],
        "batch_sum",
        [_input("x", 1)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
    )
    return _save(graph, path)


def two_inputs(path: Path) -> Path:
    """``sum = a + 2 * b`` on [batch, 2] inputs ``a`` and ``b``."""
    two = numpy_helper.from_array(np.array([2.0], dtype=np.float32), "two")
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["b", "two"], ["b2"]),
            helper.make_node("Add", ["a", "b2"], ["sum"]),
        ],
        "two_inputs",
        [_input("a", 2), _input("b", 2)],
        [_input("sum", 2)],
        [two],
    )
    return _save(graph, path)


def two_outputs(path: Path) -> Path:
    """``double = 2x`` and ``negated = -x`` on a [batch, 3] input ``x``."""
    two = numpy_helper.from_array(np.array([2.0], dtype=np.float32), "two")
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["double"]),
            helper.make_node("Neg", ["x"], ["negated"]),
        ],
        "two_outputs",
        [_input("x", 3)],
        [_input("double", 3), _input("negated", 3)],
        [two],
    )
    return _save(graph, path)


def mlp(path: Path, sizes: tuple[int, ...] = (32, 256, 256, 8), seed: int = 0) -> Path:
    """A ReLU MLP with random weights, input ``x`` of width ``sizes[0]``."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    current = "x"
    for i, (fan_in, fan_out) in enumerate(pairwise(sizes)):
        w = (rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32)
        b = np.zeros(fan_out, dtype=np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = "y" if i == len(sizes) - 2 else f"h{i}"
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [f"z{i}"]))
        if out == "y":
            nodes.append(helper.make_node("Identity", [f"z{i}"], ["y"]))
        else:
            nodes.append(helper.make_node("Relu", [f"z{i}"], [out]))
        current = out
    graph = helper.make_graph(
        nodes, "mlp", [_input("x", sizes[0])], [_input("y", sizes[-1])], inits
    )
    return _save(graph, path)


def outer(path: Path, factors: tuple[float, ...] = (1.0, 10.0, 100.0)) -> Path:
    """``y[b, i, j] = x[b, i] * factors[j]``: a [batch, 2] float input ``x``, an output of shape
    [batch, 2, len(factors)] (each row a matrix)."""
    weight = numpy_helper.from_array(np.array([[factors]], dtype=np.float32), "w")
    axes = numpy_helper.from_array(np.array([2], dtype=np.int64), "axes")
    graph = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["x", "axes"], ["column"]),
            helper.make_node("Mul", ["column", "w"], ["y"]),
        ],
        "outer",
        [_input("x", 2)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2, len(factors)])],
        [weight, axes],
    )
    return _save(graph, path)
