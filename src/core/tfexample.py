"""``tf.train.Example`` without TensorFlow: parse and build the protos TFX pipelines exchange.

The messages are defined here with TensorFlow's full names and field numbers, in a private
descriptor pool (so they never clash with TensorFlow's own), which makes reading TFRecords of
examples cheap for any handler: no TensorFlow import on the worker. The bytes are the same as
TensorFlow's (a test holds them equal).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

from .errors import InputError
from .protos import BYTES, FLOAT, INT64, MESSAGE, OPTIONAL, REPEATED, STRING, Field, add_message


@cache
def example_class() -> Any:
    """The ``tensorflow.Example`` message class (private pool)."""
    from google.protobuf import (  # noqa: PLC0415 (protobuf: lazy)
        descriptor_pb2,
        descriptor_pool,
        message_factory,
    )

    file = descriptor_pb2.FileDescriptorProto(
        name="infergraph/tensorflow/example.proto", package="tensorflow", syntax="proto3"
    )

    def message(name: str, *fields: Field) -> Any:
        return add_message(file, name, *fields)

    message("BytesList", ("value", 1, BYTES, REPEATED, ""))
    message("FloatList", ("value", 1, FLOAT, REPEATED, ""))
    message("Int64List", ("value", 1, INT64, REPEATED, ""))
    feature = message(
        "Feature",
        ("bytes_list", 1, MESSAGE, OPTIONAL, ".tensorflow.BytesList"),
        ("float_list", 2, MESSAGE, OPTIONAL, ".tensorflow.FloatList"),
        ("int64_list", 3, MESSAGE, OPTIONAL, ".tensorflow.Int64List"),
    )
    feature.oneof_decl.add(name="kind")
    for field in feature.field:
        field.oneof_index = 0
    features = message(
        "Features", ("feature", 1, MESSAGE, REPEATED, ".tensorflow.Features.FeatureEntry")
    )
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=STRING, label=OPTIONAL)
    entry.field.add(
        name="value", number=2, type=MESSAGE, label=OPTIONAL, type_name=".tensorflow.Feature"
    )
    message("Example", ("features", 1, MESSAGE, OPTIONAL, ".tensorflow.Features"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.Example"))


def parse_example(data: bytes) -> dict[str, Any]:
    """A serialized ``tf.train.Example`` as ``{feature: values}``.

    Values are numpy arrays (float32 for float lists, int64 for int64 lists) or lists of bytes.

    Raises:
        InputError: the bytes are not a tf.train.Example.
    """
    from google.protobuf.message import DecodeError  # noqa: PLC0415 (protobuf: lazy)

    example = example_class()()
    try:
        example.ParseFromString(data)
    except DecodeError as exc:
        raise InputError(f"not a serialized tf.train.Example: {exc}") from None
    features: dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "float_list":
            features[name] = np.asarray(feature.float_list.value, dtype=np.float32)
        elif kind == "int64_list":
            features[name] = np.asarray(feature.int64_list.value, dtype=np.int64)
        elif kind == "bytes_list":
            features[name] = list(feature.bytes_list.value)
        else:
            features[name] = []
    return features


def make_example(features: Mapping[str, Any]) -> bytes:
    """A serialized ``tf.train.Example`` from ``{feature: value or values}``.

    Floats become float lists, integers and booleans int64 lists, strings (UTF-8) and bytes
    bytes lists; a scalar is a list of one.

    Example:
        >>> parse_example(make_example({"x": [105.0], "key": "a"}))["key"]
        [b'a']
    """
    example = example_class()()
    for name, value in features.items():
        values = np.asarray(value) if not isinstance(value, str | bytes) else np.asarray([value])
        values = values.reshape(-1)
        feature = example.features.feature[name]
        if values.dtype.kind == "f":
            feature.float_list.value.extend(values.astype(np.float32).tolist())
        elif values.dtype.kind in "iub":
            feature.int64_list.value.extend(values.astype(np.int64).tolist())
        elif values.dtype.kind in "SUO":
            feature.bytes_list.value.extend(
                v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values.tolist()
            )
        else:
            raise InputError(f"feature {name!r}: cannot store {values.dtype} in a tf.train.Example")
    return bytes(example.SerializeToString())


def feature_scalar(features: Mapping[str, Any], name: str) -> Any:
    """The single value of feature ``name`` (bytes decoded as UTF-8 where they are text).

    Raises:
        InputError: the feature is missing or does not hold exactly one value.
    """
    if name not in features:
        raise InputError(f"no feature {name!r}; the example has {sorted(features)}")
    values = features[name]
    if len(values) != 1:
        raise InputError(f"feature {name!r} holds {len(values)} values; a key needs exactly one")
    value = values[0]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value.item() if isinstance(value, np.generic) else value
