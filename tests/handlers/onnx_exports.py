"""ONNX models exported the way users export them: from scikit-learn with skl2onnx, and built
with ``onnx.helper`` in the shapes converters produce (symbolic batch dims, several typed
inputs and outputs, outputs without a batch axis). IR 8 / opset 17, which onnxruntime reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
ML_OPSET = 3
SPECIES = np.array(["setosa", "versicolor", "virginica"])


def training_data(seed: int = 0) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Three well separated classes in 4 features (90 rows), labels 0, 1, 2."""
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 0.0, 0.0], [0.0, 5.0, 5.0, 5.0]])
    labels = np.repeat(np.arange(3), 30)
    features = centers[labels] + rng.normal(scale=0.5, size=(90, 4))
    return features.astype(np.float32), labels


def _convert(model: Any, path: Path, width: int, **options: Any) -> Path:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(
        model,
        initial_types=[("input", FloatTensorType([None, width]))],
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        **options,
    )
    onnx.save(onx, str(path))
    return path


def sklearn_classifier(path: Path, *, zipmap: bool = True) -> tuple[Path, Any]:
    """A LogisticRegression on 4 features with string labels (``SPECIES``), converted with
    skl2onnx: outputs ``output_label`` and ``output_probability`` (a ZipMap, a sequence of
    label -> probability maps, unless ``zipmap`` is false: then a [N, 3] float tensor)."""
    from sklearn.linear_model import LogisticRegression

    features, labels = training_data()
    model = LogisticRegression(max_iter=500).fit(features, SPECIES[labels])
    options = {} if zipmap else {"options": {id(model): {"zipmap": False}}}
    return _convert(model, path, 4, **options), model


def sklearn_regressor(path: Path) -> tuple[Path, Any]:
    """A LinearRegression on 4 features: output ``variable``, shape [N, 1]."""
    from sklearn.linear_model import LinearRegression

    features, labels = training_data()
    model = LinearRegression().fit(features, labels.astype(np.float32))
    return _convert(model, path, 4), model


def sklearn_pipeline(path: Path) -> tuple[Path, Any]:
    """StandardScaler then a LogisticRegression on integer labels (ZipMap output)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = training_data()
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    model.fit(features, labels)
    return _convert(model, path, 4), model


def sklearn_tabular(path: Path) -> tuple[Path, Any]:
    """A ColumnTransformer (one-hot ``city``, scaled ``age``) and a LogisticRegression: one
    input per column, as skl2onnx converts tables: ``city`` string [N, 1], ``age`` float
    [N, 1]."""
    import pandas as pd
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    table = pd.DataFrame(
        {
            "city": ["paris", "rome", "oslo", "paris", "rome", "oslo"] * 5,
            "age": np.tile([20.0, 30.0, 70.0, 25.0, 35.0, 75.0], 5).astype(np.float32),
        }
    )
    target = (table["age"] > 50).astype(int)
    columns = ColumnTransformer(
        [("city", OneHotEncoder(), ["city"]), ("age", StandardScaler(), ["age"])]
    )
    model = Pipeline([("columns", columns), ("clf", LogisticRegression())]).fit(table, target)
    onx = convert_sklearn(
        model,
        initial_types=[("city", StringTensorType([None, 1])), ("age", FloatTensorType([None, 1]))],
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        options={id(model.steps[-1][1]): {"zipmap": False}},
    )
    onnx.save(onx, str(path))
    return path, model


# -- built with onnx.helper ------------------------------------------------------------------


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8
    )
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _value(name: str, kind: int, shape: list[int | str | None] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, kind, shape)


def mixed_inputs(path: Path) -> Path:
    """Three inputs with a symbolic batch dim ``N``: ``ids`` int64 [N, 3], ``names`` string
    [N], ``x`` float [N, 2]; three outputs: ``next_ids`` (``ids + 1``, int64 [N, 3]),
    ``shout`` (``names`` upper-cased, string [N]) and ``scaled`` (``2 x``, float [N, 2])."""
    one = numpy_helper.from_array(np.array(1, dtype=np.int64), "one")
    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    graph = helper.make_graph(
        [
            helper.make_node("Add", ["ids", "one"], ["next_ids"]),
            helper.make_node(
                "StringNormalizer", ["names"], ["shout"], case_change_action="UPPER", locale="C"
            ),
            helper.make_node("Mul", ["x", "two"], ["scaled"]),
        ],
        "mixed_inputs",
        [
            _value("ids", TensorProto.INT64, ["N", 3]),
            _value("names", TensorProto.STRING, ["N"]),
            _value("x", TensorProto.FLOAT, ["N", 2]),
        ],
        [
            _value("next_ids", TensorProto.INT64, ["N", 3]),
            _value("shout", TensorProto.STRING, ["N"]),
            _value("scaled", TensorProto.FLOAT, ["N", 2]),
        ],
        [one, two],
    )
    return _save(graph, path)


def with_scalar_outputs(path: Path) -> Path:
    """``y = 2x`` on ``x`` float [N, 2], with two outputs that have no batch axis: ``version``
    (a constant scalar) and ``total`` (the sum over the whole batch, a scalar)."""
    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    version = helper.make_tensor("version_value", TensorProto.INT64, [], [3])
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["y"]),
            helper.make_node("Constant", [], ["version"], value=version),
            helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        ],
        "with_scalar_outputs",
        [_value("x", TensorProto.FLOAT, ["N", 2])],
        [
            _value("y", TensorProto.FLOAT, ["N", 2]),
            _value("version", TensorProto.INT64, []),
            _value("total", TensorProto.FLOAT, []),
        ],
        [two],
    )
    return _save(graph, path)


def with_other_leading_dim(path: Path) -> Path:
    """``y = 2x`` on ``x`` float [N, 2], with ``classes`` (a constant [3] int64 vector, as
    models that ship their class ids do) and ``shape`` (``Shape(x)``, [2])."""
    two = numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")
    classes = helper.make_tensor("classes_value", TensorProto.INT64, [3], [7, 8, 9])
    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["y"]),
            helper.make_node("Constant", [], ["classes"], value=classes),
            helper.make_node("Shape", ["x"], ["shape"]),
        ],
        "with_other_leading_dim",
        [_value("x", TensorProto.FLOAT, ["N", 2])],
        [
            _value("y", TensorProto.FLOAT, ["N", 2]),
            _value("classes", TensorProto.INT64, [3]),
            _value("shape", TensorProto.INT64, [2]),
        ],
        [two],
    )
    return _save(graph, path)


def fixed_batch(path: Path, batch: int = 4) -> Path:
    """``y = x + 1`` on ``x`` float [batch, 3] and ``y`` [batch, 3]: a static batch size, as
    exports traced at one batch size have."""
    one = numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "fixed_batch",
        [_value("x", TensorProto.FLOAT, [batch, 3])],
        [_value("y", TensorProto.FLOAT, [batch, 3])],
        [one],
    )
    return _save(graph, path)


def sequence_input(path: Path) -> Path:
    """A model whose input is a sequence of tensors (``SequenceLength``): not a tensor the
    handler can stack."""
    graph = helper.make_graph(
        [helper.make_node("SequenceLength", ["items"], ["count"])],
        "sequence_input",
        [
            helper.make_tensor_sequence_value_info("items", TensorProto.FLOAT, None),
        ],
        [_value("count", TensorProto.INT64, [])],
    )
    return _save(graph, path)
