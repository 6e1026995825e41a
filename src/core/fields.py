"""Which part of a record a handler receives: the one rule for files, the CLI and graphs.

Records read from JSONL or CSV are dicts, and a handler usually wants one value. The rule:

1. a value that is not a dict is passed as it is;
2. with ``input_field`` set (``--input-field`` on the command line), that field's value;
3. a handler that declares ``input_names`` gets a dict of exactly those fields;
4. a handler that takes whole records (``takes_records``: e.g. ``tensorflow`` on a signature that
   parses ``tf.train.Example``, whose features are the record's fields) gets the dict as it is;
5. a dict with a single field gives that field's value;
6. any other dict is passed as it is (handlers such as ``onnx`` take dicts by input name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import InputError


def select_input(
    value: Any,
    *,
    input_field: str | None = None,
    input_names: Sequence[str] | None = None,
    whole: bool = False,
) -> Any:
    """The part of ``value`` a handler receives (see the module's rule).

    Raises:
        InputError: ``input_field`` or a declared input name is missing from the record.
    """
    if not isinstance(value, Mapping):
        return value
    if input_field is not None:
        if input_field not in value:
            raise InputError(
                f"the record has no field {input_field!r}; its fields are {sorted(value)}. "
                "Fix the record, or choose another input field"
            )
        return value[input_field]
    if input_names is not None:
        missing = [name for name in input_names if name not in value]
        if missing:
            raise InputError(
                f"the handler takes the fields {list(input_names)}; the record lacks {missing} "
                f"(it has {sorted(value)})"
            )
        return {name: value[name] for name in input_names}
    if len(value) == 1 and not whole:
        return next(iter(value.values()))
    return value
