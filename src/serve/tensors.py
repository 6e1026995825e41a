"""Tensors of the Open Inference Protocol v2: JSON data, Triton's binary extension, datatypes.

A v2 tensor is ``{name, shape, datatype, data}``; ``data`` is flat (row-major) or nested. With
Triton's binary tensor extension the body is a JSON header of ``Inference-Header-Content-Length``
bytes followed by the raw tensors, in the order of the inputs that declare
``parameters.binary_data_size``. BYTES elements are UTF-8 strings in JSON, and each one a 4-byte
little-endian length and its bytes in binary.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.errors import RequestError

DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
_BY_KIND = {
    np.dtype(t).newbyteorder("<"): name for name, t in DATATYPES.items() if t is not np.object_
}


def datatype_of(array: np.ndarray[Any, Any]) -> str:
    """The v2 datatype of an array (strings and other objects are BYTES)."""
    if array.dtype.kind in "OUS":
        return "BYTES"
    name = _BY_KIND.get(array.dtype.newbyteorder("<"))
    if name is None:
        raise RequestError(f"an output of dtype {array.dtype} has no v2 datatype", 500)
    return name


@dataclass(frozen=True)
class Tensor:
    """A decoded input tensor."""

    name: str
    array: np.ndarray[Any, Any]


def element_count(shape: Sequence[int]) -> int:
    """The elements of a tensor of ``shape``."""
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def check_shape(name: str, shape: Any, max_elements: int) -> list[int]:
    """``shape`` as a list of non-negative ints, with at least one (the batch) dimension."""
    if not isinstance(shape, list) or not shape:
        raise RequestError(f"input {name!r}: shape must be a list of dimensions, batch first")
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise RequestError(f"input {name!r}: shape {shape} has a dimension that is not >= 0")
    if element_count(shape) > max_elements:
        raise RequestError(
            f"input {name!r}: shape {shape} has {element_count(shape)} elements, more than the "
            f"server's limit of {max_elements} (serving.max_elements)",
            413,
        )
    return list(shape)


def dtype_for(name: str, datatype: Any) -> Any:
    """The numpy dtype of a v2 datatype name."""
    if datatype not in DATATYPES:
        raise RequestError(
            f"input {name!r}: unknown datatype {datatype!r}; one of {', '.join(DATATYPES)}"
        )
    return DATATYPES[datatype]


def from_json(name: str, datatype: str, shape: list[int], data: Any) -> np.ndarray[Any, Any]:
    """A JSON ``data`` field (flat or nested) as an array of ``shape``."""
    dtype = dtype_for(name, datatype)
    if not isinstance(data, list):
        raise RequestError(f"input {name!r}: data must be a list, got {type(data).__name__}")
    try:
        flat = _strings(name, data) if dtype is np.object_ else _numbers(name, datatype, data)
    except (ValueError, OverflowError) as exc:
        raise RequestError(
            f"input {name!r}: data is not a list of {datatype} values: {exc}"
        ) from None
    return _reshape(name, flat, shape)


def _strings(name: str, data: list[Any]) -> np.ndarray[Any, Any]:
    flat = np.array(_flatten(data), dtype=object)
    if not all(isinstance(x, str) for x in flat):
        raise RequestError(f"input {name!r}: BYTES data must be strings")
    return flat


def _numbers(name: str, datatype: str, data: list[Any]) -> np.ndarray[Any, Any]:
    dtype = np.dtype(DATATYPES[datatype])
    probe = np.asarray(data)
    if probe.dtype.kind not in "biuf":
        raise RequestError(f"input {name!r}: {datatype} data must be numbers that fit {datatype}")
    if probe.dtype.kind == "f" and dtype.kind in "biu":
        # floats, or integers too big for int64 (numpy reads those as floats): only the latter
        if not all(type(x) is int for x in _flatten(data)):
            raise RequestError(f"input {name!r}: {datatype} data must be whole numbers")
        return np.array(_flatten(data), dtype=dtype)  # exact, from Python's ints
    if dtype.kind in "iu" and probe.size:
        info = np.iinfo(dtype)
        if probe.min() < info.min or probe.max() > info.max:
            raise RequestError(
                f"input {name!r}: {datatype} data must lie in [{info.min}, {info.max}]"
            )
    return probe.reshape(-1).astype(dtype)


def from_binary(name: str, datatype: str, shape: list[int], raw: bytes) -> np.ndarray[Any, Any]:
    """Raw bytes of Triton's binary extension as an array of ``shape``."""
    dtype = dtype_for(name, datatype)
    if dtype is np.object_:
        flat = np.array(_unpack_bytes(name, raw), dtype=object)
    else:
        size = np.dtype(dtype).itemsize
        if len(raw) != element_count(shape) * size:
            raise RequestError(
                f"input {name!r}: {len(raw)} bytes of binary data for shape {shape} of "
                f"{datatype} ({element_count(shape) * size} bytes)"
            )
        flat = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
    return _reshape(name, flat, shape)


def to_binary(array: np.ndarray[Any, Any]) -> bytes:
    """An output array's raw bytes for Triton's binary extension."""
    if datatype_of(array) != "BYTES":
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    parts = []
    for item in array.reshape(-1):
        data = item if isinstance(item, bytes) else str(item).encode()
        parts.append(struct.pack("<I", len(data)) + data)
    return b"".join(parts)


def to_json(array: np.ndarray[Any, Any]) -> list[Any]:
    """An output array's flat JSON data."""
    if datatype_of(array) == "BYTES":
        return [x.decode() if isinstance(x, bytes) else str(x) for x in array.reshape(-1)]
    values: list[Any] = array.reshape(-1).tolist()
    return values


def output_array(column: Any) -> np.ndarray[Any, Any]:
    """An output column (an array, or an object column of per-row values) as one array."""
    array = np.asarray(column)
    if array.dtype == object and len(array) and not isinstance(array.flat[0], str | bytes):
        try:
            array = np.stack([np.asarray(row) for row in array])
        except ValueError as exc:
            message = f"rows of different shapes cannot be one tensor: {exc}"
            raise RequestError(message, 500) from None
    if array.dtype.kind == "U":
        array = array.astype(object)
    return array


def _flatten(data: list[Any]) -> list[Any]:
    if data and isinstance(data[0], list):
        return [x for part in data for x in _flatten(part)]
    return data


def _reshape(name: str, flat: np.ndarray[Any, Any], shape: list[int]) -> np.ndarray[Any, Any]:
    if flat.size != element_count(shape):
        raise RequestError(
            f"input {name!r}: {flat.size} elements do not fill shape {shape} "
            f"({element_count(shape)} elements)"
        )
    return flat.reshape(shape)


def _unpack_bytes(name: str, raw: bytes) -> list[bytes]:
    items: list[bytes] = []
    offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise RequestError(f"input {name!r}: truncated BYTES element length")
        (size,) = struct.unpack_from("<I", raw, offset)
        offset += 4
        items.append(raw[offset : offset + size])
        offset += size
    if offset != len(raw):
        raise RequestError(f"input {name!r}: truncated BYTES element")
    return items


def split_binary(body: bytes, header_length: int) -> tuple[bytes, bytes]:
    """A binary-extension body's JSON header and the raw tensors after it."""
    if header_length < 0 or header_length > len(body):
        raise RequestError(
            f"Inference-Header-Content-Length {header_length} does not fit a body of "
            f"{len(body)} bytes"
        )
    return body[:header_length], body[header_length:]


def binary_sizes(inputs: Sequence[Mapping[str, Any]]) -> list[int | None]:
    """Each input's ``binary_data_size`` parameter (``None`` for JSON data)."""
    sizes: list[int | None] = []
    for entry in inputs:
        size = (entry.get("parameters") or {}).get("binary_data_size")
        if size is not None and (not isinstance(size, int) or size < 0):
            raise RequestError(f"input {entry.get('name')!r}: bad binary_data_size {size!r}")
        sizes.append(size)
    return sizes
