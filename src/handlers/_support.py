"""Small helpers the built-in handlers share: lazy imports, fallback warnings, input checks."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
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
        return quiet_import(module)
    except ImportError as exc:
        raise MissingDependencyError.for_extra(package, extra, purpose) from exc


# A line of absl's C++ log ("I0000 00:00:17.3 5381 port.cc:153] ..."), by its level letter.
_ABSL_LINE = re.compile(rb"^([IWEF])\d{4} ")
_ABSL_LEVELS = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
_ABSL_BANNER = b"WARNING: All log messages before absl::InitializeLog() is called"


def quiet_import(module: str) -> ModuleType:
    """Import ``module``, holding back the C++ log lines below ``TF_CPP_MIN_LOG_LEVEL``.

    TensorFlow (2.21) logs its start-up notices (oneDNN, no CUDA driver) before its logging is
    set up, where ``TF_CPP_MIN_LOG_LEVEL`` does not reach them, straight to file descriptor 2.
    While TensorFlow is first imported with that variable set, descriptor 2 goes to a file;
    the lines at or above the level are written back after the import.
    """
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    if "tensorflow" in sys.modules or not level.isdigit() or int(level) == 0:
        return importlib.import_module(module)
    with _stderr_filtered(int(level)):
        return importlib.import_module(module)


@contextlib.contextmanager
def _stderr_filtered(level: int) -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            os.write(2, b"".join(_kept(capture.read().splitlines(keepends=True), level)))


def _kept(lines: list[bytes], level: int) -> Iterator[bytes]:
    for line in lines:
        found = _ABSL_LINE.match(line)
        if found and _ABSL_LEVELS[found.group(1)] < level:
            continue
        if not line.startswith(_ABSL_BANNER):
            yield line


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
    if array.dtype.kind in "SU":
        # numpy turns numbers among strings into text ("7"): keep them objects, so that the
        # input's check names them instead of passing them on as text.
        objects = np.asarray(values, dtype=object)
        if not all(isinstance(v, str | bytes) for v in objects.flat):
            return objects
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
        return _strings(array, name, dtype_name) if target.kind == "O" else array.astype(target)
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


def _strings(array: np.ndarray[Any, Any], name: str, dtype_name: str) -> np.ndarray[Any, Any]:
    """A string input's batch as an object array of ``str``/``bytes``; anything else (numbers,
    ``None``) is an :class:`InputError`, not a runtime's cryptic type error."""
    if array.dtype.kind not in "SUO":
        raise InputError(
            f"input {name!r} expects {dtype_name} text; the batch holds {_kind_name(array)} "
            f"(dtype {array.dtype}). Pass strings"
        )
    strings = array.astype(object)
    if array.dtype.kind == "O":
        for value in strings.flat:
            if not isinstance(value, str | bytes):
                raise InputError(
                    f"input {name!r} expects {dtype_name} text; the batch holds "
                    f"{type(value).__name__} {value!r}. Pass strings"
                )
    return strings


def utf8_strings(strings: np.ndarray[Any, Any], name: str) -> np.ndarray[Any, Any]:
    """An object array of text with ``bytes`` decoded as UTF-8, for runtimes whose string
    tensors are text (ONNX Runtime writes ``str(b"x")``, ``"b'x'"``, for bytes).

    Raises:
        InputError: bytes that are not UTF-8.
    """
    if not any(isinstance(value, bytes) for value in strings.flat):
        return strings
    decoded = strings.copy()
    for index, value in np.ndenumerate(strings):
        if isinstance(value, bytes):
            try:
                decoded[index] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(
                    f"input {name!r} expects text; the batch holds bytes that are not UTF-8 "
                    f"({value[:20]!r}). Pass str, or UTF-8 bytes"
                ) from None
    return decoded


def fit_rank(
    array: np.ndarray[Any, Any], dims: Sequence[int | None] | None
) -> np.ndarray[Any, Any]:
    """``array`` with a trailing axis of 1 added when the input has one and the examples lack it.

    Converted tabular models take one ``[batch, 1]`` input per column; an example that is a
    plain value (``{"age": 31}``) stacks to ``[batch]``. Adding the axis is unambiguous.
    """
    if dims is not None and len(dims) >= 2 and dims[-1] == 1 and array.ndim == len(dims) - 1:
        return array[..., np.newaxis]
    return array


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
    def batched(value: Any) -> bool:
        return np.ndim(value) > 0 and len(value) == rows

    for name, value in outputs.items():
        if not batched(value):
            others = [other for other, v in outputs.items() if batched(v)]
            fix = (
                f"select the batched outputs with output_names={others}"
                if others
                else "use a model whose outputs have a batch (first) axis"
            )
            raise BatchError(
                f"output {name!r} has shape {list(np.shape(value))}, not one row per example "
                f"({rows}); {fix}"
            )


def check_batched(
    shapes: Mapping[str, Sequence[int | None] | None],
    batch: int | None,
    *,
    chosen: bool,
    owner: str,
) -> None:
    """Refuse, at load, outputs whose declared shape cannot have one row per example.

    ``shapes`` maps each selected output to its declared dims (``[]`` a scalar, ``None`` not
    known); ``batch`` is the inputs' static batch size (``None`` when free). A scalar never has
    rows. A static first dimension is not the batch unless it equals a static ``batch``; such
    an output is refused only when ``chosen`` is false (outputs named in ``output_names`` are
    checked batch by batch instead, for models whose declared shapes are wrong).

    Raises:
        ModelLoadError: naming ``owner``, the outputs and their shapes, and what to do.
    """
    scalars = [name for name, dims in shapes.items() if dims is not None and not dims]
    leading = [
        name
        for name, dims in shapes.items()
        if dims and dims[0] is not None and dims[0] != batch
    ]
    refused = scalars if chosen else scalars + leading
    if not refused:
        return
    described = ", ".join(
        f"{name!r} (shape {list(shapes[name] or [])})" for name in shapes if name in refused
    )
    batched = [name for name in shapes if name not in scalars + leading]
    fix = (
        f"set output_names to the batched outputs, {batched}"
        if batched
        else "export the model with a batch (first) axis on its outputs, one value per example"
    )
    wrong = [name for name in leading if name in refused]
    escape = (
        f". If {wrong} do have one row per example (a declared shape can be wrong), name them "
        "in output_names: they are then checked batch by batch"
        if wrong
        else ""
    )
    raise ModelLoadError(
        f"{owner} has outputs without a batch axis: {described}. The handler returns one "
        f"prediction per example, so every output needs one row per example: {fix}{escape}"
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
