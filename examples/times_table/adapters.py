"""Adapters of the times-table example: plain functions between its models and its output.

- :func:`to_example`: a model's output as a serialized ``tf.train.Example`` with feature ``x``,
  so the 5x model's output feeds the 10x SavedModel (the chain pattern).
- :func:`to_x`: a model's output as the ONNX models' input row (float32, shape ``[1]``).
- :func:`describe`: ``"input is [105.] output is [525.]"``, TFX's post-processing pattern.
- :func:`x_of`: the ``x`` of an input, to route on.

An input is a serialized ``tf.train.Example`` with a float feature ``x`` (a ``tf.train.Example``
message will do too), a dict with ``"x"``, or an array, list or number. A model output is an
array of shape ``[1]`` (a prediction row), a number, or a dict holding ``"y"``. The examples are
parsed and built with TensorFlow's protobuf classes, imported on first use: no TensorFlow ops
run per element. Bad values raise a ``ValueError`` that names the function and the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

Row = np.ndarray[Any, np.dtype[np.float32]]


def to_example(y: Any) -> bytes:
    """A model output as a serialized ``tf.train.Example`` whose float feature ``x`` is ``y``.

    Example:
        >>> x_of(to_example(np.array([525.0], np.float32)))
        525.0
    """
    example = _example_class()()
    example.features.feature["x"].float_list.value.extend(_output(y, "to_example").tolist())
    return bytes(example.SerializeToString(deterministic=True))


def to_x(y: Any) -> Row:
    """A model output as the input row of the ONNX models: float32, shape ``[1]``."""
    return _output(y, "to_x")


def describe(example: Any, y: Any) -> str:
    """The input and the model's output as text: ``input is [105.] output is [525.]``.

    Both are printed as numpy prints a float32 array of shape ``[1]``.
    """
    x = _row(_input_x(example, "describe"), "describe", "input x")
    return f"input is {x} output is {_output(y, 'describe')}"


def x_of(example: Any) -> float:
    """The ``x`` of an input, as a Python float (for routes and conditions)."""
    return float(_row(_input_x(example, "x_of"), "x_of", "input x")[0])


# -- helpers -------------------------------------------------------------------------------------


@cache
def _example_class() -> Any:
    try:
        from tensorflow.core.example import example_pb2
    except ImportError as exc:
        raise ValueError(
            f"reading and writing tf.train.Example needs TensorFlow ({exc}); "
            "pip install 'infergraph[tensorflow]'"
        ) from exc
    return example_pb2.Example


def _input_x(example: Any, function: str) -> Any:
    """The ``x`` value of an input, not yet checked."""
    if isinstance(example, bytes | bytearray | memoryview):
        example = _parse(bytes(example), function)
    if hasattr(example, "features") and hasattr(example, "SerializeToString"):
        feature = example.features.feature
        if "x" not in feature:
            raise ValueError(
                f"{function}: the tf.train.Example has no feature 'x'; its features are "
                f"{sorted(feature)}"
            )
        kind = feature["x"].WhichOneof("kind")
        if kind not in ("float_list", "int64_list"):
            raise ValueError(f"{function}: feature 'x' holds {kind or 'nothing'}, not numbers")
        return list(getattr(feature["x"], kind).value)
    if isinstance(example, Mapping):
        if "x" not in example:
            raise ValueError(f"{function}: the input has no 'x'; its fields are {sorted(example)}")
        return example["x"]
    return example


def _parse(data: bytes, function: str) -> Any:
    from google.protobuf.message import DecodeError

    example = _example_class()()
    try:
        example.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError(
            f"{function}: the input bytes are not a serialized tf.train.Example ({exc})"
        ) from None
    return example


def _output(y: Any, function: str) -> Row:
    """A model output (array, number, or dict with ``"y"``) as a float32 row of one value."""
    if isinstance(y, Mapping):
        if "y" not in y:
            raise ValueError(
                f"{function}: the model output has no 'y'; its outputs are {sorted(y)}"
            )
        y = y["y"]
    return _row(y, function, "model output")


def _row(value: Any, function: str, what: str) -> Row:
    try:
        array = np.asarray(value, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{function}: the {what} {value!r} is not a number: {exc}") from None
    if array.shape != (1,):
        raise ValueError(
            f"{function}: the {what} must hold exactly one value, got {array.size}: {value!r}"
        )
    return array
