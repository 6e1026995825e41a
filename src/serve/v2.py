"""The Open Inference Protocol v2 (KServe, Triton, MLServer): requests and answers.

The first dimension of every input tensor is the batch. With one input tensor each row is one
example (its name is free); with several, each row is a record of the named inputs, which a
model node takes by its input names (the graph's input rule).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import RequestError
from .answers import Answer
from .tensors import (
    binary_sizes,
    check_shape,
    datatype_of,
    from_binary,
    from_json,
    to_binary,
    to_json,
)


@dataclass(frozen=True)
class InferRequest:
    """A decoded inference request.

    Attributes:
        columns: The input arrays: ``{"": array}`` for one input, else by name.
        rows: The batch size (first dimension of every input).
        id: The request's ``id``, echoed.
        outputs: The outputs asked for (``None``: all).
        binary: Output tensor -> whether to send it as binary data.
        parameters: The request's ``parameters``.
    """

    columns: dict[str, np.ndarray[Any, Any]]
    rows: int
    id: str | None
    outputs: list[str] | None
    binary: dict[str, bool]
    parameters: dict[str, Any]

    @property
    def partial(self) -> bool:
        """Whether the client asked for partial results."""
        return bool(self.parameters.get("partial_results", False))


def decode(doc: Any, raw: bytes, max_elements: int) -> InferRequest:
    """An infer request from its JSON document and the binary data after it."""
    if not isinstance(doc, dict):
        raise RequestError("a v2 infer request is a JSON object with `inputs`")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, dict) for i in inputs):
        raise RequestError("a v2 infer request needs `inputs`: a list of tensors")
    parameters = _mapping(doc.get("parameters"), "parameters")
    arrays = _arrays(inputs, raw, max_elements)
    rows = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(rows.values())) != 1:
        raise RequestError(f"every input needs the same first (batch) dimension; got {rows}")
    if 0 in rows.values():
        raise RequestError("a request needs at least one row (a first dimension above 0)")
    columns = {"": next(iter(arrays.values()))} if len(arrays) == 1 else arrays
    outputs, binary = _outputs(doc.get("outputs"), bool(parameters.get("binary_data_output")))
    request_id = doc.get("id")
    return InferRequest(
        columns,
        next(iter(rows.values())),
        None if request_id is None else str(request_id),
        outputs,
        binary,
        parameters,
    )


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"`{what}` must be an object")
    return value


def _arrays(
    inputs: list[dict[str, Any]], raw: bytes, max_elements: int
) -> dict[str, np.ndarray[Any, Any]]:
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    offset = 0
    total = 0
    for entry, size in zip(inputs, binary_sizes(inputs), strict=True):
        name = entry.get("name")
        if not isinstance(name, str) or name in arrays:
            raise RequestError(f"each input needs a unique string `name`; got {name!r}")
        shape = check_shape(name, entry.get("shape"), max_elements)
        datatype = entry.get("datatype")
        if size is None:
            if "data" not in entry:
                raise RequestError(f"input {name!r} has neither `data` nor binary_data_size")
            array = from_json(name, str(datatype), shape, entry["data"])
        else:
            if offset + size > len(raw):
                raise RequestError(f"input {name!r}: binary data runs past the body's end")
            array = from_binary(name, str(datatype), shape, raw[offset : offset + size])
            offset += size
        total += array.size
        if total > max_elements:
            raise RequestError(
                f"the inputs hold more than the server's limit of {max_elements} elements "
                "(serving.max_elements)",
                413,
            )
        arrays[name] = array
    if offset != len(raw):
        raise RequestError(f"{len(raw) - offset} bytes of binary data belong to no input")
    return arrays


def _outputs(value: Any, binary_default: bool) -> tuple[list[str] | None, dict[str, bool]]:
    if value is None:
        return None, {}
    if not isinstance(value, list) or not all(isinstance(o, dict) for o in value):
        raise RequestError("`outputs` must be a list of objects with a `name`")
    names: list[str] = []
    binary: dict[str, bool] = {}
    for entry in value:
        name = entry.get("name")
        if not isinstance(name, str):
            raise RequestError(f"each requested output needs a string `name`; got {name!r}")
        names.append(name)
        parameters = _mapping(entry.get("parameters"), f"outputs[{name!r}].parameters")
        binary[name] = bool(parameters.get("binary_data", binary_default))
    return names, binary


def encode(model: str, request: InferRequest, answer: Answer) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers (binary outputs follow the JSON header)."""
    default = bool(request.parameters.get("binary_data_output"))
    outputs = []
    blobs: list[bytes] = []
    for name, array in answer.outputs.items():
        tensor: dict[str, Any] = {
            "name": name,
            "datatype": datatype_of(array),
            "shape": list(array.shape),
        }
        if request.binary.get(name, default):
            blob = to_binary(array)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = to_json(array)
        outputs.append(tensor)
    doc: dict[str, Any] = {"model_name": model, "model_version": answer.version}
    if request.id is not None:
        doc["id"] = request.id
    doc["parameters"] = {"model_files": answer.files}
    if answer.statuses is not None:
        doc["parameters"]["row_status"] = answer.statuses
        doc["parameters"]["row_errors"] = {str(k): v for k, v in answer.errors.items()}
    doc["outputs"] = outputs
    head = json.dumps(doc, separators=(",", ":")).encode()
    headers = {"X-Model-Version": answer.version}
    if not blobs:
        headers["Content-Type"] = "application/json"
        return head, headers
    headers["Content-Type"] = "application/octet-stream"
    headers["Inference-Header-Content-Length"] = str(len(head))
    return head + b"".join(blobs), headers
