"""Protobuf messages defined in code, for wire-compatible copies of other projects' messages.

infergraph reads and writes a few messages of TensorFlow's and TensorFlow Serving's without
depending on their packages; each is described here field by field (same full names and field
numbers) in a private descriptor pool, so it never clashes with the real ones.
"""

from __future__ import annotations

from typing import Any

# Field types and labels of google.protobuf.FieldDescriptorProto.
FLOAT, INT64, STRING, MESSAGE, BYTES = 2, 3, 9, 11, 12
OPTIONAL, REPEATED = 1, 3

Field = tuple[str, int, int, int, str]
"""``(name, number, type, label, type_name)``; ``type_name`` is empty for scalars."""


def add_message(file: Any, name: str, *fields: Field) -> Any:
    """Add message ``name`` with ``fields`` to a ``FileDescriptorProto``; return its proto."""
    proto = file.message_type.add(name=name)
    for field_name, number, kind, label, type_name in fields:
        field = proto.field.add(name=field_name, number=number, type=kind, label=label)
        if type_name:
            field.type_name = type_name
    return proto
