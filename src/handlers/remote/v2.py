"""The Open Inference Protocol v2 (KServe, Triton, MLServer) over JSON.

An example is a dict of named inputs, or one value sent as the input ``input_name``. Each input
becomes a tensor with the datatype of its values (every numpy dtype maps to its own v2 datatype:
float64 goes out as ``FP64``, never silently narrowed) unless the config's ``datatypes`` names
one. Only examples whose inputs agree in names, shapes and datatypes share a request, so an
example of another shape is sent on its own and cannot fail its neighbours; a value that is no
tensor (ragged lists, strings mixed with numbers, NaN, integers beyond 64 bits) fails alone as
:class:`~infergraph.InputError`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.errors import InputError
from .protocols import NAN_MESSAGE, Protocol, ResponseError, _q, answer_object, to_json_value

if TYPE_CHECKING:
    from .config import RemoteConfig

DATATYPES: dict[str, str] = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}
"""The v2 datatype of each numpy dtype (strings and bytes are ``BYTES``)."""


@dataclass(frozen=True)
class Tensor:
    """One example's value of one input: its datatype, its shape and its values, flattened."""

    datatype: str
    shape: tuple[int, ...]
    data: list[Any]


class OpenInferenceProtocol(Protocol):
    """Open Inference Protocol v2 (KServe, Triton): ``/v2/models/NAME[/versions/N]/infer``.

    A prediction is the row of the single output, or a dict of rows by output name (an output
    the server leaves unnamed is called ``output_<i>`` by its position).
    """

    def path(self, config: RemoteConfig) -> str:
        path = f"/v2/models/{_q(config.model)}"
        if config.version:
            path += f"/versions/{_q(config.version)}"
        return path + "/infer"

    def encode(self, example: Any) -> dict[str, Tensor]:
        named = example if isinstance(example, Mapping) else {self.config.input_name: example}
        if not named:
            raise InputError("the example has no inputs; pass a value or a dict of named inputs")
        return {str(name): self._tensor(str(name), value) for name, value in named.items()}

    def size(self, instance: dict[str, Tensor]) -> int:
        # An estimate of the JSON bytes: the values dominate a request.
        return sum(len(repr(tensor.data)) + 2 * len(name) + 60 for name, tensor in instance.items())

    def group(self, instance: dict[str, Tensor]) -> Hashable:
        return tuple(sorted((name, t.datatype, t.shape) for name, t in instance.items()))

    def body(self, instances: Sequence[dict[str, Tensor]]) -> dict[str, Any]:
        inputs = []
        for name, first in instances[0].items():
            data: list[Any] = []
            for instance in instances:
                data.extend(instance[name].data)
            inputs.append(
                {
                    "name": name,
                    "shape": [len(instances), *first.shape],
                    "datatype": first.datatype,
                    "data": data,
                }
            )
        body: dict[str, Any] = {"inputs": inputs}
        if self.config.output_names:
            body["outputs"] = [{"name": name} for name in self.config.output_names]
        if self.config.parameters:
            body["parameters"] = self.config.parameters
        return body

    def parse(self, payload: Any, count: int) -> list[Any]:
        payload = answer_object(payload)
        outputs = payload.get("outputs")
        if not isinstance(outputs, list) or not outputs:
            raise ResponseError(f"the response has no 'outputs' list (keys: {sorted(payload)})")
        rows: dict[str, list[Any]] = {}
        for position, output in enumerate(outputs):
            if not isinstance(output, Mapping):
                raise ResponseError(f"output {position} is not a JSON object")
            name = str(output.get("name") or f"output_{position}")
            rows[name] = _rows(name, output, count)
        if len(rows) == 1:
            return next(iter(rows.values()))
        return [{name: column[i] for name, column in rows.items()} for i in range(count)]

    # -- one value ---------------------------------------------------------------------------

    def _tensor(self, name: str, value: Any) -> Tensor:
        declared = self.config.datatypes.get(name)
        if _is_text(value) or _all_text(value):
            return _bytes_tensor(name, value, declared)
        if isinstance(value, list | tuple) and _mixes_text(value):
            raise InputError(
                f"input {name!r} mixes strings with other values; a tensor holds one datatype"
            )
        try:
            array = np.asarray(value if isinstance(value, np.ndarray) else to_json_value(value))
        except ValueError as exc:
            raise InputError(
                f"input {name!r} is not a tensor: its nested lists are ragged ({exc})"
            ) from None
        datatype = DATATYPES.get(array.dtype.name)
        if datatype is None:
            raise InputError(
                f"input {name!r} has values of type {array.dtype} that no v2 datatype holds "
                "(ragged lists, None, integers beyond 64 bits, complex numbers?); pass numbers, "
                "booleans or strings"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise InputError(f"input {name!r}: {NAN_MESSAGE}")
        return Tensor(declared or datatype, tuple(array.shape), array.ravel().tolist())


def _bytes_tensor(name: str, value: Any, declared: str | None) -> Tensor:
    array = np.asarray(value, dtype=object)
    try:
        data = [_text(v) for v in array.ravel().tolist()]
    except UnicodeDecodeError:
        raise InputError(
            f"input {name!r}: Open Inference Protocol JSON carries BYTES tensors as UTF-8 "
            "strings; this value is not valid UTF-8 (base64-encode it before sending)"
        ) from None
    return Tensor(declared or "BYTES", tuple(array.shape), data)


def _rows(name: str, output: Mapping[str, Any], count: int) -> list[Any]:
    try:
        tensor = np.asarray(output["data"])
        if output.get("shape") is not None:
            tensor = tensor.reshape(output["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ResponseError(f"malformed output tensor {name!r}: {exc}") from None
    if tensor.ndim == 0 or tensor.shape[0] != count:
        raise ResponseError(
            f"output {name!r} has shape {list(tensor.shape)}; expected {count} rows"
        )
    return [row.tolist() for row in tensor]


def _text(value: Any) -> str:
    return bytes(value).decode("utf-8") if isinstance(value, bytes | bytearray) else str(value)


def _is_text(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "SU" or (
            value.dtype.kind == "O" and value.size > 0 and _all_text(value.tolist())
        )
    return isinstance(value, str | bytes | bytearray | np.str_ | np.bytes_)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


def _all_text(value: Any) -> bool:
    if not isinstance(value, list | tuple):
        return False
    leaves = list(_leaves(value))
    return bool(leaves) and all(_is_text(leaf) for leaf in leaves)


def _mixes_text(value: Any) -> bool:
    return any(_is_text(leaf) for leaf in _leaves(value))
