"""What a handler's ``postprocess`` and ``block_output`` return, checked before the core uses it.

The execution paths call these inside the stage guard: a generator that raises midway, a
``None``, a mapping where a sequence belongs, or an output with the wrong number of rows
becomes a failure record of that stage, never an exception that escapes a run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from .errors import PostprocessError


def predictions_list(value: Any, expected: int, node: str) -> list[Any]:
    """The predictions ``postprocess`` returned, as a list of exactly ``expected`` items.

    Raises:
        PostprocessError: ``value`` is ``None``, a mapping, text, not iterable, or has another
            number of items. (An exception raised while iterating ``value`` propagates.)
    """
    fix = "it must return a sequence with one prediction per example"
    if value is None:
        raise PostprocessError(f"postprocess of handler {node!r} returned None; {fix}")
    if isinstance(value, Mapping | str | bytes | bytearray) or not isinstance(value, Iterable):
        raise PostprocessError(
            f"postprocess of handler {node!r} returned a {type(value).__name__}; {fix}"
        )
    predictions = list(value)
    if len(predictions) != expected:
        raise PostprocessError(
            f"postprocess of handler {node!r} returned {len(predictions)} predictions for "
            f"{expected} examples; {fix}"
        )
    return predictions


def block_rows(value: Any, rows: int, node: str) -> Any:
    """The output ``block_output`` returned for a block slice of ``rows`` rows, checked.

    An iterator is materialised (as an array); a mapping's values are checked one by one.

    Raises:
        PostprocessError: ``value`` is ``None``, or has no row axis, or another number of rows.
    """
    if value is None:
        raise PostprocessError(
            f"block_output of handler {node!r} returned None; it must return an array (or a "
            f"dict of arrays) with one row per block row ({rows})"
        )
    if isinstance(value, Mapping):
        return {name: _rows_of(column, rows, node, name) for name, column in value.items()}
    return _rows_of(value, rows, node, None)


def _rows_of(value: Any, rows: int, node: str, name: str | None) -> Any:
    if not isinstance(value, np.ndarray | list | tuple) and isinstance(value, Iterable):
        value = np.asarray(list(value))
    shape = np.shape(value)
    if not shape or shape[0] != rows:
        what = f"output {name!r}" if name is not None else "output"
        got = f"{shape[0]} rows" if shape else "a scalar"
        raise PostprocessError(
            f"block_output of handler {node!r} gave {what} with {got} for a block slice of "
            f"{rows} rows; a block's output needs one row per block row"
        )
    return value


def first_rows(output: Any, rows: int) -> Any:
    """The first ``rows`` rows of a block output (an array, a sequence or a dict of them)."""
    if isinstance(output, Mapping):
        return {name: column[:rows] for name, column in output.items()}
    return output[:rows]


def exception_text(
    exc: BaseException, limit: int | None = None, redact: Callable[[str], str] = str
) -> str:
    """``str(exc)`` through ``redact`` (a handler's, say), then cut to ``limit`` characters; a
    stand-in when it cannot be had. Redacting first: a cut may leave part of a secret."""
    try:
        text = redact(str(exc))
    except Exception:
        return f"(the {type(exc).__name__} could not be turned into text)"
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."
