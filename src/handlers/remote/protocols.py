"""Wire protocols of the ``remote`` handler: where to POST, what to send, how to read the answer.

Every protocol turns one example into a JSON-ready *instance* (bytes become ``{"b64": ...}``,
arrays become lists), builds a request body from a list of instances, and reads exactly one
prediction per instance back from the response, or raises :class:`ResponseError`.
"""

from __future__ import annotations

import base64
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import numpy as np

from ...core.errors import InputError

if TYPE_CHECKING:
    from .config import RemoteConfig

_PAYLOAD_TOO_LARGE = re.compile(r"(payload|request|body)[^.]{0,60}(too large|exceed)", re.I)


class ResponseError(Exception):
    """A response that carries an error, or that does not hold one prediction per instance."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large or bool(_PAYLOAD_TOO_LARGE.search(message))


def to_json_value(value: Any) -> Any:  # noqa: PLR0911 (one return per kind of value)
    """A JSON-ready copy of ``value``: bytes as ``{"b64": ...}``, numpy values as lists/scalars.

    Protocol buffers (anything with ``SerializeToString``, such as ``tf.train.Example``) are sent
    serialized, as ``{"b64": ...}``.

    Example:
        >>> to_json_value({"x": b"hi", "y": np.array([1, 2])})
        {'x': {'b64': 'aGk='}, 'y': [1, 2]}
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [to_json_value(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return to_json_value(value.item())
    if isinstance(value, Mapping):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    serialize = getattr(value, "SerializeToString", None)
    if callable(serialize):
        return to_json_value(serialize())
    raise InputError(
        f"cannot send a {type(value).__name__} to a remote endpoint; pass numbers, strings, "
        "bytes, lists, arrays or dicts of them"
    )


def answer_object(payload: Any) -> Mapping[str, Any]:
    """A 200 response's JSON object; an error body (AI Platform answers 200 with one) raises.

    Raises:
        ResponseError: the body is not a JSON object, or it carries an ``error``.
    """
    if not isinstance(payload, Mapping):
        raise ResponseError(f"expected a JSON object, got {type(payload).__name__}")
    if "error" in payload:
        raise ResponseError(server_message(payload, ""))
    return payload


def server_message(payload: Any, text: str) -> str:
    """The endpoint's error message from a JSON error body, else the start of the raw text."""
    if isinstance(payload, Mapping) and "error" in payload:
        error = payload["error"]
        if isinstance(error, Mapping):
            return str(error.get("message") or error)
        return str(error)
    return text.strip()[:500] or "(empty body)"


class Protocol(ABC):
    """One prediction protocol, configured for one model or endpoint."""

    #: Whether the protocol is a Google Cloud API (Google credentials by default).
    google: ClassVar[bool] = False

    def __init__(self, config: RemoteConfig) -> None:
        self.config = config
        self.url = self._base(config).rstrip("/") + self.path(config)

    @abstractmethod
    def path(self, config: RemoteConfig) -> str:
        """The URL path of the predict call."""

    def default_host(self, config: RemoteConfig) -> str | None:
        """The base URL when the config sets no ``endpoint``."""
        return None

    def encode(self, example: Any) -> Any:
        """One example as a JSON-ready instance."""
        return to_json_value(example)

    @abstractmethod
    def body(self, instances: Sequence[Any]) -> dict[str, Any]:
        """The request body for ``instances``."""

    @abstractmethod
    def parse(self, payload: Any, count: int) -> list[Any]:
        """Exactly ``count`` predictions from a 200 response's JSON body."""

    def _base(self, config: RemoteConfig) -> str:
        base = config.endpoint or self.default_host(config)
        assert base is not None, "the config validator requires an endpoint"
        return base


class _InstancesProtocol(Protocol):
    """Row format: ``{"instances": [...]}`` in, ``{"predictions": [...]}`` out."""

    def body(self, instances: Sequence[Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"instances": list(instances)}
        if self.config.signature_name:
            body["signature_name"] = self.config.signature_name
        if self.config.parameters:
            body["parameters"] = self.config.parameters
        return body

    def parse(self, payload: Any, count: int) -> list[Any]:
        payload = answer_object(payload)
        predictions = payload.get("predictions")
        if not isinstance(predictions, list):
            raise ResponseError(f"the response has no 'predictions' list (keys: {sorted(payload)})")
        if len(predictions) != count:
            raise ResponseError(
                f"the endpoint returned {len(predictions)} predictions for {count} instances"
            )
        return predictions


class AIPlatformProtocol(_InstancesProtocol):
    """AI Platform Prediction (legacy): ``/v1/projects/P/models/M[/versions/V]:predict``."""

    google = True

    def default_host(self, config: RemoteConfig) -> str | None:
        region = config.location or "us-central1"
        return f"https://{region}-ml.googleapis.com"

    def path(self, config: RemoteConfig) -> str:
        path = f"/v1/projects/{_q(config.project)}/models/{_q(config.model)}"
        if config.version:
            path += f"/versions/{_q(config.version)}"
        return path + ":predict"


class VertexProtocol(_InstancesProtocol):
    """Vertex AI: ``/v1/projects/P/locations/L/endpoints/E:predict``."""

    google = True

    def default_host(self, config: RemoteConfig) -> str | None:
        return f"https://{config.location}-aiplatform.googleapis.com"

    def path(self, config: RemoteConfig) -> str:
        return (
            f"/v1/projects/{_q(config.project)}/locations/{_q(config.location)}"
            f"/endpoints/{_q(config.endpoint_id)}:predict"
        )


class TFServingProtocol(_InstancesProtocol):
    """TensorFlow Serving REST, row format: ``/v1/models/NAME[/versions/N]:predict``."""

    def path(self, config: RemoteConfig) -> str:
        path = f"/v1/models/{_q(config.model)}"
        if config.version:
            path += f"/versions/{_q(config.version)}"
        return path + ":predict"


class OpenInferenceProtocol(Protocol):
    """Open Inference Protocol v2 (KServe, Triton): ``/v2/models/NAME[/versions/N]/infer``.

    An example is a dict of named inputs, or one value sent as the input ``input_name``. The
    values of each input are stacked into one tensor; a prediction is the row of the single
    output, or a dict of rows by output name.
    """

    _DATATYPES: ClassVar[dict[str, str]] = {
        "b": "BOOL",
        "i": "INT64",
        "u": "UINT64",
        "f": "FP32",
        "U": "BYTES",
        "S": "BYTES",
        "O": "BYTES",
    }

    def path(self, config: RemoteConfig) -> str:
        path = f"/v2/models/{_q(config.model)}"
        if config.version:
            path += f"/versions/{_q(config.version)}"
        return path + "/infer"

    def encode(self, example: Any) -> Any:
        named = example if isinstance(example, Mapping) else {self.config.input_name: example}
        return {str(name): self._value(value) for name, value in named.items()}

    def body(self, instances: Sequence[Any]) -> dict[str, Any]:
        names = list(instances[0])
        inputs = []
        for name in names:
            try:
                column = np.asarray([instance[name] for instance in instances])
            except (KeyError, ValueError) as exc:
                raise InputError(
                    f"the examples of one request must share their inputs and shapes; "
                    f"input {name!r}: {exc}"
                ) from None
            datatype = self.config.datatypes.get(name) or self._DATATYPES.get(column.dtype.kind)
            if datatype is None:
                raise InputError(f"input {name!r} has unsupported dtype {column.dtype}")
            inputs.append(
                {
                    "name": name,
                    "shape": list(column.shape),
                    "datatype": datatype,
                    "data": column.ravel().tolist(),
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
        for output in outputs:
            try:
                tensor = np.asarray(output["data"]).reshape(output["shape"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ResponseError(f"malformed output tensor: {exc}") from None
            if tensor.ndim == 0 or tensor.shape[0] != count:
                raise ResponseError(
                    f"output {output.get('name')!r} has shape {list(tensor.shape)}; "
                    f"expected {count} rows"
                )
            rows[str(output.get("name"))] = [row.tolist() for row in tensor]
        if len(rows) == 1:
            return next(iter(rows.values()))
        return [{name: column[i] for name, column in rows.items()} for i in range(count)]

    def _value(self, value: Any) -> Any:
        if isinstance(value, bytes | bytearray):
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(
                    "Open Inference Protocol JSON carries BYTES tensors as UTF-8 strings; this "
                    "input is not valid UTF-8 (base64-encode it before sending)"
                ) from None
        if isinstance(value, np.ndarray) and value.dtype.kind in "SO":
            return [self._value(v) for v in value.tolist()]
        if isinstance(value, list | tuple):
            return [self._value(v) for v in value]
        return to_json_value(value)


PROTOCOLS: dict[str, type[Protocol]] = {
    "ai_platform": AIPlatformProtocol,
    "vertex": VertexProtocol,
    "tf_serving": TFServingProtocol,
    "v2": OpenInferenceProtocol,
}
"""Protocol classes by their ``protocol`` config name."""


def encoded_size(instance: Any) -> int:
    """The bytes ``instance`` adds to a JSON request body (its encoding and a separator)."""
    return len(json.dumps(instance, separators=(",", ":"))) + 1


def _q(part: str | None) -> str:
    return quote(part or "", safe="")
