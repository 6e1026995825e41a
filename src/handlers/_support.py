"""Small helpers the built-in handlers share: lazy imports, fallback warnings, input checks."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from ..core.errors import BatchError, InputError, MissingDependencyError, ModelLoadError

logger = logging.getLogger("infergraph")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def require(module: str, *, package: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency or say which ``pip install 'infergraph[extra]'`` to run."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError.for_extra(package, extra, purpose) from exc


def warn_once(key: str, message: str, *args: Any) -> None:
    """Log ``message`` at WARNING the first time ``key`` is seen in this process."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)


def single_input(example: Any, name: str, owner: str = "model") -> Any:
    """The value for a one-input ``owner``: the example, its field ``name``, or its only field."""
    if isinstance(example, Mapping):
        if name in example:
            return example[name]
        if len(example) == 1:
            return next(iter(example.values()))
        raise InputError(
            f"the {owner} has one input {name!r}; the example has fields "
            f"{sorted(example)}: pass an array, or a dict with {name!r} or a single field"
        )
    return example


def named_input(example: Any, name: str, inputs: Mapping[str, Any], owner: str = "model") -> Any:
    """The field ``name`` of a dict example for a multi-input ``owner``."""
    if not isinstance(example, Mapping):
        raise InputError(
            f"the {owner} has inputs {sorted(inputs)}: pass a dict of arrays by input name, "
            f"got {type(example).__name__}"
        )
    try:
        return example[name]
    except KeyError:
        raise InputError(
            f"the example lacks input {name!r}; the {owner}'s inputs are {sorted(inputs)}, "
            f"the example has {sorted(example)}"
        ) from None


def shared_fields(examples: Sequence[Any]) -> list[str]:
    """The field names every dict example of a batch has, in the first example's order.

    Raises:
        InputError: an example is not a dict, or has other fields (order does not matter).
    """
    names = examples[0].keys()
    for example in examples:
        if not isinstance(example, Mapping) or example.keys() != names:
            got = sorted(example) if isinstance(example, Mapping) else type(example).__name__
            raise InputError(
                f"every example in a batch needs the fields {sorted(names)}; got {got}"
            )
    return list(names)


def stack(values: Sequence[Any], name: str | None, *, numeric: bool = True) -> np.ndarray[Any, Any]:
    """The examples (or one field of them) stacked into one array along a new first axis.

    Raises:
        InputError: the examples have different shapes, or (``numeric``) hold values that are
            not numbers (``None``, mixed types).
    """
    field = f"field {name!r}: " if name else ""
    try:
        array = np.asarray(values)
    except ValueError as exc:
        shapes = sorted({str(np.shape(v)) for v in values})
        raise InputError(
            f"{field}examples of different shapes {', '.join(shapes)} cannot be stacked into one "
            "batch; every example needs the same shape"
        ) from exc
    if numeric and array.dtype == object:
        raise InputError(
            f"{field}examples could not be stacked into a numeric array; pass arrays of one "
            "shape and dtype"
        )
    return array


def as_input(value: Any, want: Any, name: str, dtype_name: str) -> np.ndarray[Any, Any]:
    """``value`` as an array of the model input's numpy dtype ``want``, refusing lossy casts.

    ``None``, text and other objects are not numbers: they are an :class:`InputError`, never
    a silent NaN. Floats go to an integer input only when they are whole and in range.
    """
    target = np.dtype(want)
    try:
        array = np.asarray(value)
    except ValueError as exc:
        raise InputError(
            f"input {name!r}: the batch's examples have different shapes and cannot be stacked "
            f"({exc}); every example needs the same shape"
        ) from exc
    if target.kind in "OSU":
        return np.asarray(value, dtype=object) if target.kind == "O" else array.astype(target)
    kind = array.dtype.kind
    if kind not in "biuf":
        raise InputError(
            f"input {name!r} expects {dtype_name} numbers; the batch holds {_kind_name(array)} "
            f"(dtype {array.dtype}). Pass numbers only: None, text and objects are not numbers"
        )
    if target.kind in "iu" and array.size:
        if kind == "f" and not bool(np.all(np.isfinite(array) & (array == np.round(array)))):
            raise InputError(
                f"input {name!r} expects {dtype_name} integers; the batch holds fractional, "
                "NaN or infinite numbers. Pass whole numbers"
            )
        info = np.iinfo(target)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            raise InputError(
                f"input {name!r} expects {dtype_name}; the batch holds values from {low} to "
                f"{high}, outside [{info.min}, {info.max}]"
            )
    with np.errstate(over="ignore"):  # an overflow is reported below, not warned about
        cast = array.astype(target, copy=False)
    narrowed = target.kind == "f" and kind == "f" and target.itemsize < array.dtype.itemsize
    if narrowed and not bool(np.isfinite(cast).all()):  # one pass in the common case
        overflow = np.isinf(cast) & np.isfinite(array)
        if overflow.any():
            raise InputError(
                f"input {name!r} expects {dtype_name}; the batch holds "
                f"{float(np.abs(array[overflow]).max()):g}, beyond its largest value "
                f"{float(np.finfo(target).max):g}"
            )
    return cast


def _kind_name(array: np.ndarray[Any, Any]) -> str:
    kind = array.dtype.kind
    if kind == "O":
        return "None or other non-numeric objects (or numbers too large for any dtype)"
    if kind in "SU":
        return "text"
    if kind == "c":
        return "complex numbers"
    if kind in "mM":
        return "dates or durations"
    return f"values of kind {kind!r}"


def check_rows(outputs: Mapping[str, Any], rows: int) -> None:
    """Every output has one row per example (``rows``) along its first axis.

    Raises:
        BatchError: an output is a scalar or has another number of rows (no example is at
            fault: the model or the selected outputs are not batched).
    """
    for name, value in outputs.items():
        if np.ndim(value) == 0 or len(value) != rows:
            raise BatchError(
                f"output {name!r} has shape {list(np.shape(value))}, not one row per example "
                f"({rows}); use a model whose outputs are batched, or select batched outputs "
                "with output_names"
            )


def select_outputs(available: Sequence[str], wanted: Sequence[str] | None, owner: str) -> list[str]:
    """The outputs to return: ``wanted`` (``output_names``), else every one of ``available``.

    Raises:
        ModelLoadError: naming ``owner`` (the model or signature), the unknown names and the
            outputs there are.
    """
    chosen = list(wanted or available)
    missing = [name for name in chosen if name not in available]
    if missing:
        raise ModelLoadError(
            f"{owner} has no outputs {missing}; its outputs are {list(available)}. "
            "Fix output_names"
        )
    return chosen
