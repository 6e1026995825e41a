"""The ``tensorflow_serving`` messages a ``PredictionLog`` needs, without tensorflow-serving-api.

tensorflow-serving-api pins ``tensorflow>=X.Y`` to its own version (2.21 requires TensorFlow
2.21 or newer) and pulls in grpcio, so infergraph does not depend on it. When it is installed its
classes are used; otherwise this module builds wire-compatible messages with the same full names
(``tensorflow.serving.PredictionLog`` ...) and field numbers, in a private descriptor pool so they
never clash with the real ones. Only the fields a predict log uses are defined; the TFRecord files
written with either parse with the official classes (tfx-bsl, TFMA, TFX's InfraValidator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...core.protos import INT64, MESSAGE, OPTIONAL, REPEATED, STRING, Field, add_message
from .._support import quiet_import

_FILE = "infergraph/tensorflow_serving/prediction_log.proto"
_TENSOR_PROTO = ".tensorflow.TensorProto"


@dataclass(frozen=True)
class PredictionLogTypes:
    """The message classes of a predict log.

    Attributes:
        PredictionLog: ``tensorflow.serving.PredictionLog``.
        PredictLog: ``tensorflow.serving.PredictLog``.
        official: Whether they come from the tensorflow-serving-api package.
    """

    PredictionLog: Any
    PredictLog: Any
    official: bool


_cache: dict[bool, PredictionLogTypes] = {}


def prediction_log_types(*, prefer_official: bool = True) -> PredictionLogTypes:
    """The ``PredictionLog`` classes: tensorflow-serving-api's if installed, else our own."""
    if prefer_official not in _cache:
        _cache[prefer_official] = (prefer_official and _official()) or _private()
    return _cache[prefer_official]


def _official() -> PredictionLogTypes | None:
    try:
        module = quiet_import("tensorflow_serving.apis.prediction_log_pb2")
    except ImportError:
        return None
    return PredictionLogTypes(module.PredictionLog, module.PredictLog, official=True)


def _private() -> PredictionLogTypes:
    from google.protobuf import (  # noqa: PLC0415 (protobuf: lazy)
        descriptor_pb2,
        descriptor_pool,
        message_factory,
        wrappers_pb2,
    )
    from tensorflow.core.framework import tensor_pb2  # noqa: PLC0415 (tensorflow: optional)

    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: Any) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        pool.Add(proto)
        added.add(file.name)

    add(tensor_pb2.DESCRIPTOR)
    add(wrappers_pb2.DESCRIPTOR)
    pool.Add(_file_proto(descriptor_pb2))
    classes = {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"tensorflow.serving.{name}")
        )
        for name in ("PredictionLog", "PredictLog")
    }
    return PredictionLogTypes(classes["PredictionLog"], classes["PredictLog"], official=False)


def _file_proto(pb: Any) -> Any:
    file = pb.FileDescriptorProto(
        name=_FILE,
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["tensorflow/core/framework/tensor.proto", "google/protobuf/wrappers.proto"],
    )

    def message(name: str, *fields: Field) -> Any:
        return add_message(file, name, *fields)

    def tensor_map(owner: Any, entry: str) -> None:
        nested = owner.nested_type.add(name=entry)
        nested.options.map_entry = True
        nested.field.add(name="key", number=1, type=STRING, label=OPTIONAL)
        nested.field.add(
            name="value", number=2, type=MESSAGE, label=OPTIONAL, type_name=_TENSOR_PROTO
        )

    spec = ".tensorflow.serving.ModelSpec"
    model_spec = message(
        "ModelSpec",
        ("name", 1, STRING, OPTIONAL, ""),
        ("version", 2, MESSAGE, OPTIONAL, ".google.protobuf.Int64Value"),
        ("signature_name", 3, STRING, OPTIONAL, ""),
        ("version_label", 4, STRING, OPTIONAL, ""),
    )
    model_spec.oneof_decl.add(name="version_choice")
    model_spec.field[1].oneof_index = 0
    model_spec.field[3].oneof_index = 0
    request = message(
        "PredictRequest",
        ("model_spec", 1, MESSAGE, OPTIONAL, spec),
        ("inputs", 2, MESSAGE, REPEATED, ".tensorflow.serving.PredictRequest.InputsEntry"),
        ("output_filter", 3, STRING, REPEATED, ""),
    )
    tensor_map(request, "InputsEntry")
    response = message(
        "PredictResponse",
        ("outputs", 1, MESSAGE, REPEATED, ".tensorflow.serving.PredictResponse.OutputsEntry"),
        ("model_spec", 2, MESSAGE, OPTIONAL, spec),
    )
    tensor_map(response, "OutputsEntry")
    message(
        "PredictLog",
        ("request", 1, MESSAGE, OPTIONAL, ".tensorflow.serving.PredictRequest"),
        ("response", 2, MESSAGE, OPTIONAL, ".tensorflow.serving.PredictResponse"),
    )
    message(
        "LogMetadata",
        ("model_spec", 1, MESSAGE, OPTIONAL, spec),
        ("saved_model_tags", 3, STRING, REPEATED, ""),
        ("timestamp_secs", 4, INT64, OPTIONAL, ""),
    )
    log = message(
        "PredictionLog",
        ("log_metadata", 1, MESSAGE, OPTIONAL, ".tensorflow.serving.LogMetadata"),
        ("predict_log", 6, MESSAGE, OPTIONAL, ".tensorflow.serving.PredictLog"),
    )
    log.oneof_decl.add(name="log_type")
    log.field[1].oneof_index = 0
    return file
