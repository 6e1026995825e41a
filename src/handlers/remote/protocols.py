"""Wire protocols of the ``remote`` handler: where to POST, what to send, how to read the answer.

Every protocol turns one example into an *instance* (bytes become ``{"b64": ...}``, arrays
become lists; v2 makes a tensor), builds a request body from a list of instances, and reads
exactly one prediction per instance back from the response, or raises :class:`ResponseError`.
Request bodies are valid JSON: an example holding NaN or Infinity fails on its own as
:class:`~infergraph.InputError`. The Open Inference Protocol v2 lives in :mod:`.v2`.
"""

from __future__ import annotations

import base64
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
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


def server_message(payload: Any, text: str, scrub: Callable[[str], str] = str) -> str:
    """The endpoint's error message from a JSON error body, else the start of the raw text.

    ``scrub`` takes the secrets out before the text is cut short: a cut could leave part of a
    secret that no longer matches it.
    """
    if isinstance(payload, Mapping) and "error" in payload:
        error = payload["error"]
        if isinstance(error, Mapping):
            return scrub(str(error.get("message") or error))
        return scrub(str(error))
    text = scrub(text.strip())
    if text.startswith("Traceback (most recent call last):"):
        text = _exception_lines(text) or text
    return text[:500] or "(empty body)"


def _exception_lines(traceback: str) -> str:
    """The exception at the end of a Python traceback (MLServer answers 500 with one), on one
    line: what went wrong, not the first frames of the server's stack."""
    lines = traceback.splitlines()
    last_frame = max(i for i, line in enumerate(lines) if i == 0 or line[:1].isspace())
    return " ".join(line.strip() for line in lines[last_frame + 1 :] if line.strip())


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
        """One example as an instance ready for :meth:`body`.

        Raises:
            InputError: the example cannot be sent (a value JSON cannot carry, say).
        """
        instance = to_json_value(example)
        json_size(instance)  # NaN, Infinity and circular values fail here, for this example only
        return instance

    def size(self, instance: Any) -> int:
        """The bytes ``instance`` adds to a request body (its encoding and a separator)."""
        return json_size(instance)

    def group(self, instance: Any) -> Hashable:
        """Instances of one group may share a request (v2: same inputs, shapes, datatypes)."""
        return None

    @abstractmethod
    def body(self, instances: Sequence[Any]) -> dict[str, Any]:
        """The request body for ``instances`` (all of one :meth:`group`)."""

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


def pack(
    sizes: Sequence[int], groups: Sequence[Hashable], limit: int, budget: int
) -> list[list[int]]:
    """Instance indices in requests of at most ``limit`` instances and ``budget`` bytes, in
    order; a request holds instances of one :meth:`Protocol.group` only."""
    requests: list[list[int]] = []
    open_requests: dict[Hashable, tuple[list[int], int]] = {}
    for j, (size, group) in enumerate(zip(sizes, groups, strict=True)):
        current, used = open_requests.get(group, ([], 0))
        if current and (len(current) >= limit or used + size > budget):
            current, used = [], 0
        if not current:
            requests.append(current)
        current.append(j)
        open_requests[group] = (current, used + size)
    return requests


def json_size(instance: Any) -> int:
    """The bytes ``instance`` adds to a JSON request body (its encoding and a separator).

    Raises:
        InputError: the instance holds NaN or Infinity (no valid JSON carries them), or a
            value that is not JSON.
    """
    try:
        return len(json.dumps(instance, separators=(",", ":"), allow_nan=False)) + 1
    except ValueError as exc:
        if "Out of range float" in str(exc):
            raise InputError(NAN_MESSAGE) from None
        raise InputError(f"the example cannot be sent as JSON: {exc}") from None
    except (TypeError, RecursionError) as exc:
        raise InputError(f"the example cannot be sent as JSON: {exc}") from None


NAN_MESSAGE = (
    "the example holds NaN or Infinity, which JSON request bodies cannot carry; replace them "
    "before sending (with None, or a value the model understands)"
)


def _q(part: str | None) -> str:
    return quote(part or "", safe="")
