"""The Open Inference Protocol v2 against the loopback server: shapes, datatypes, outputs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import infergraph as ig
from infergraph.core.errors import ConfigError
from infergraph.handlers.remote import RemoteHandler
from tests.handlers.remote_server import PredictionServer


@pytest.fixture
def server() -> Iterator[PredictionServer]:
    with PredictionServer() as srv:
        yield srv


def v2(server: PredictionServer, **options: Any) -> RemoteHandler:
    return RemoteHandler(protocol="v2", endpoint=server.url, model="m", **options)


def test_an_example_of_another_shape_fails_alone(server: PredictionServer) -> None:
    data = [
        ("a", [1.0, 2.0]), ("b", [1.0, 2.0, 3.0]), ("c", [3.0, 4.0]), ("d", [[1.0], [2.0, 3.0]])
    ]
    results = list(ig.predict(v2(server), data))
    assert [r.key for r in results] == ["a", "b", "c", "d"]
    a, b, c, d = results
    assert isinstance(a, ig.Prediction) and a.output == [2.0, 4.0]
    assert isinstance(c, ig.Prediction) and c.output == [6.0, 8.0]
    # Another shape is sent on its own: the server decides (this one takes any shape).
    assert isinstance(b, ig.Prediction) and b.output == [2.0, 4.0, 6.0]
    # A ragged value is no tensor at all.
    assert isinstance(d, ig.Failure) and d.error_type == "InputError"
    assert "input 'input' is not a tensor: its nested lists are ragged" in d.message
    shapes = sorted(s.body["inputs"][0]["shape"] for s in server.seen)
    assert shapes == [[1, 3], [2, 2]]


def test_examples_with_other_inputs_go_in_their_own_request(server: PredictionServer) -> None:
    data = [{"x": 1, "y": 2}, {"x": 3}, {"y": 5, "x": 4}, {"x": 6, "y": 7, "z": 8}]
    results = list(ig.predict(v2(server), data))
    assert [r.output for r in results] == [  # type: ignore[union-attr]
        {"x_out": 2, "y_out": 4}, 6, {"x_out": 8, "y_out": 10},
        {"x_out": 12, "y_out": 14, "z_out": 16},
    ]
    assert sorted(len(s.body["inputs"]) for s in server.seen) == [1, 2, 3]


@pytest.mark.parametrize(
    ("dtype", "datatype"),
    [
        (np.bool_, "BOOL"), (np.uint8, "UINT8"), (np.uint16, "UINT16"), (np.uint32, "UINT32"),
        (np.uint64, "UINT64"), (np.int8, "INT8"), (np.int16, "INT16"), (np.int32, "INT32"),
        (np.int64, "INT64"), (np.float16, "FP16"), (np.float32, "FP32"), (np.float64, "FP64"),
        (np.str_, "BYTES"), (np.bytes_, "BYTES"),
    ],
)
def test_every_numpy_dtype_has_its_datatype(
    server: PredictionServer, dtype: Any, datatype: str
) -> None:
    value = np.array([1, 0, 1]).astype(dtype)
    (result,) = ig.predict(v2(server), [value])
    (tensor,) = server.seen[0].body["inputs"]
    assert (tensor["datatype"], tensor["shape"]) == (datatype, [1, 3])
    assert isinstance(result, ig.Prediction)
    if datatype == "BOOL":
        assert result.output == [False, True, False]
    elif datatype == "BYTES":
        assert result.output == ["1", "0", "1"]
    else:
        assert result.output == [2, 0, 2]


def test_float64_keeps_its_precision(server: PredictionServer) -> None:
    value = 0.1 + 1e-12
    (result,) = ig.predict(v2(server), [[value, 1 / 3]])
    assert server.seen[0].body["inputs"][0]["datatype"] == "FP64"
    assert isinstance(result, ig.Prediction) and result.output == [2 * value, 2 / 3]


def test_declared_datatypes_win(server: PredictionServer) -> None:
    handler = v2(server, datatypes={"input": "FP32"})
    (result,) = ig.predict(handler, [[0.1, 0.5]])
    assert server.seen[0].body["inputs"][0]["datatype"] == "FP32"
    assert isinstance(result, ig.Prediction)
    assert result.output == pytest.approx([0.2, 1.0]) and result.output[0] != 0.2


def test_unknown_declared_datatype_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"datatypes: Value error, unknown v2 datatype"):
        ig.handler("remote", protocol="v2", model="m", endpoint="http://127.0.0.1:9",
                   datatypes={"x": "FLOAT"})


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([1.0, math.nan], "NaN or Infinity, which JSON request bodies cannot carry"),
        (np.array([1.0, np.inf]), "NaN or Infinity"),
        ([1, "a"], "mixes strings with other values"),
        ([2**70], "no v2 datatype holds"),
        ([1, None], "no v2 datatype holds"),
        ({"x": {"nested": 1}}, "no v2 datatype holds"),
        ({}, "the example has no inputs"),
        (b"\xff\xfe", "not valid UTF-8"),
    ],
)
def test_values_that_are_no_tensor_fail_alone(
    server: PredictionServer, value: Any, says: str
) -> None:
    results = list(ig.predict(v2(server), [("before", [1.0, 2.0]), ("bad", value),
                                          ("after", [3.0, 4.0])]))
    before, bad, after = results
    assert isinstance(bad, ig.Failure) and bad.error_type == "InputError"
    assert says in bad.message
    assert isinstance(before, ig.Prediction) and isinstance(after, ig.Prediction)
    assert (before.output, after.output) == ([2.0, 4.0], [6.0, 8.0])


def test_unnamed_outputs_are_named_by_position(server: PredictionServer) -> None:
    server.named_outputs = False
    one, two = ig.predict(v2(server), [[1, 2], {"a": 1, "b": "x"}])
    assert isinstance(one, ig.Prediction) and one.output == [2, 4]
    assert isinstance(two, ig.Prediction) and two.output == {"output_0": 2, "output_1": "X"}


def test_output_names_are_requested_and_optional(server: PredictionServer) -> None:
    handler = v2(server, output_names=["b_out"])
    (result,) = ig.predict(handler, [{"a": 1, "b": 2}])
    assert server.seen[0].body["outputs"] == [{"name": "b_out"}]
    assert isinstance(result, ig.Prediction) and result.output == 4
