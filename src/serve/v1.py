"""TF Serving / Vertex AI v1 ``predict``: the row (``instances``) and columnar (``inputs``)
formats, as TF Serving documents them.

``{"instances": [row, ...]}``: a row is one example, or an object of named inputs;
``{"inputs": column}`` or ``{"inputs": {name: column, ...}}``: columns of rows. Answers mirror the
format: ``{"predictions": [...]}`` (a value per instance with one output, else an object per
instance) or ``{"outputs": ...}``. A string value may be ``{"b64": "..."}`` (binary data).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from ..core.errors import RequestError
from .answers import Answer
from .tensors import datatype_of, to_json
from .v2 import InferRequest


def decode(doc: Any, max_elements: int) -> tuple[InferRequest, bool]:
    """A predict request as an infer request, and whether it came in the row format."""
    if not isinstance(doc, dict) or ("instances" in doc) == ("inputs" in doc):
        raise RequestError("a v1 predict request is an object with `instances` or `inputs`")
    rows_format = "instances" in doc
    if rows_format:
        instances = doc["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError("`instances` must be a non-empty list")
        if all(isinstance(i, dict) and "b64" not in i for i in instances):
            names = list(instances[0])
            if any(list(i) != names for i in instances):
                raise RequestError("every instance needs the same named inputs")
            columns = {n: _array(n, [i[n] for i in instances]) for n in names}
        else:
            columns = {"": _array("instances", instances)}
    else:
        inputs = doc["inputs"]
        if isinstance(inputs, dict):
            columns = {n: _array(n, v) for n, v in inputs.items()}
        else:
            columns = {"": _array("inputs", inputs)}
    if len(columns) == 1:
        columns = {"": next(iter(columns.values()))}
    sizes = {name or "inputs": a.shape[0] if a.ndim else 0 for name, a in columns.items()}
    if len(set(sizes.values())) != 1 or 0 in sizes.values():
        raise RequestError(f"every input needs the same number of rows (at least one); got {sizes}")
    if sum(a.size for a in columns.values()) > max_elements:
        raise RequestError(
            f"the inputs hold more than the server's limit of {max_elements} elements "
            "(serving.max_elements)",
            413,
        )
    parameters = {"partial_results": bool(doc.get("partial_results", False))}
    rows = next(iter(sizes.values()))
    return InferRequest(columns, rows, None, None, {}, parameters), rows_format


def _array(name: str, values: Any) -> np.ndarray[Any, Any]:
    if not isinstance(values, list):
        raise RequestError(f"{name!r}: a list of rows is needed, got {type(values).__name__}")
    try:
        array = np.asarray([_value(v) for v in values])
    except ValueError as exc:
        raise RequestError(f"{name!r}: rows of different shapes: {exc}") from None
    if array.dtype.kind == "U":
        array = array.astype(object)
    if array.dtype.kind not in "biufO":
        raise RequestError(f"{name!r}: values must be numbers, booleans or strings")
    return array


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise RequestError("an object value must be {'b64': '...'}")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, TypeError):
            raise RequestError("a {'b64': ...} value is not base64") from None
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def encode(answer: Answer, rows_format: bool) -> dict[str, Any]:
    """The predict response."""
    columns = {name: _rows(array) for name, array in answer.outputs.items()}
    body: dict[str, Any]
    if rows_format:
        if len(columns) == 1:
            predictions = next(iter(columns.values()))
        else:
            count = len(next(iter(columns.values())))
            predictions = [{n: c[i] for n, c in columns.items()} for i in range(count)]
        body = {"predictions": predictions}
    else:
        body = {"outputs": next(iter(columns.values())) if len(columns) == 1 else columns}
    body["model_version"] = answer.version
    if answer.statuses is not None:
        body["row_status"] = answer.statuses
        body["row_errors"] = {str(k): v for k, v in answer.errors.items()}
    return body


def _rows(array: np.ndarray[Any, Any]) -> list[Any]:
    flat = to_json(array) if datatype_of(array) == "BYTES" else None
    if flat is not None:
        return list(np.array(flat, dtype=object).reshape(array.shape).tolist())
    return list(array.tolist())
