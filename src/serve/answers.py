"""From a request's slice of a batch result to its output tensors, or to its error.

Each output node is one tensor named after the node; a node whose value is a dict of arrays (a
model with several outputs) gives one tensor per entry, named ``node.entry`` (or just ``entry``
when the graph has one output node). A row without a value fails the request (400 when its input
was at fault, 500 when the model or a function failed), naming the row, the output and the node
that failed; with ``partial_results`` the request gets per-row statuses instead, and its failed
rows hold zeros, to be read with their status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.errors import RequestError
from ..core.results import Failure
from .batcher import Slice
from .engine import Loaded
from .tensors import output_array

_WHERE = re.compile(r"^\w+ failed in \w+ node '[^']*' for [^:]*: ")
_INPUT_ERRORS = frozenset({"InputError", "RequestError"})
_INPUT_STAGES = frozenset({"input", "batch"})


@dataclass(frozen=True)
class Answer:
    """A request's outputs and how they were made.

    Attributes:
        outputs: Tensor name -> array (one row per request row).
        version: The version of the models that answered (a hash of their files' stamps).
        files: Model node -> ``file@mtime`` of the model that answered.
        statuses: Per-row status (``ok``, ``failed``, ...) when partial results were asked for.
        errors: Row -> error message, for the rows that failed (partial results).
    """

    outputs: dict[str, np.ndarray[Any, Any]]
    version: str
    files: dict[str, str]
    statuses: list[str] | None = None
    errors: dict[int, str] = field(default_factory=dict)


def tensor_names(outputs: Sequence[str], values: Mapping[str, Any]) -> list[str]:
    """The output tensors of a graph with output nodes ``outputs`` given a result's values."""
    names: list[str] = []
    for node in outputs:
        value = values.get(node)
        if isinstance(value, Mapping):
            names += [_entry(outputs, node, key) for key in value]
        else:
            names.append(node)
    return names


def _entry(outputs: Sequence[str], node: str, key: str) -> str:
    return key if len(outputs) == 1 else f"{node}.{key}"


def answer(
    part: Slice, outputs: Sequence[str], wanted: Sequence[str] | None, partial: bool
) -> Answer:
    """The answer of a request from its ``part`` of the batch result.

    Raises:
        RequestError: an unknown output was asked for, or a row failed (and ``partial`` is off).
    """
    result, loaded = part.result
    assert isinstance(loaded, Loaded)
    rows = np.arange(part.start, part.start + part.rows)
    names = tensor_names(outputs, result.values)
    chosen = list(wanted) if wanted else names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        raise RequestError(f"unknown output {unknown[0]!r}; the outputs are {names}")
    nodes = [node for node in outputs if any(_of(outputs, node, n) for n in chosen)]
    errors, statuses = _row_errors(result, nodes, rows)
    if errors and not partial:
        raise _request_error(errors)
    tensors = {}
    for node in nodes:
        valid = result.valid[node][rows]
        value = result.values.get(node)
        parts = value if isinstance(value, Mapping) else {None: value}
        for key, column in parts.items():
            name = node if key is None else _entry(outputs, node, key)
            if name in chosen:
                tensors[name] = _rows(column, rows, valid)
    found = {n: tensors[n] for n in chosen}
    if not partial:
        return Answer(found, loaded.version, loaded.files)
    messages = {row: message for row, (_, message) in errors.items()}
    return Answer(found, loaded.version, loaded.files, statuses, messages)


def _of(outputs: Sequence[str], node: str, name: str) -> bool:
    return name == node or name.startswith(f"{node}.") or (len(outputs) == 1)


def _row_errors(
    result: Any, nodes: Sequence[str], rows: np.ndarray[Any, Any]
) -> tuple[dict[int, tuple[int, str]], list[str]]:
    """Row (in the request) -> (status code, message) for rows missing a chosen output, and
    every row's status."""
    errors: dict[int, tuple[int, str]] = {}
    statuses = ["ok"] * len(rows)
    for node in nodes:
        valid = result.valid[node]
        failures = result.failures.get(node, {})
        for index, row in enumerate(rows):
            if valid[row] or index in errors:
                continue
            failure = failures.get(int(row))
            if failure is None:
                message = f"row {index}: output {node!r} has no value (no route led to it)"
                errors[index] = (400, message)
                statuses[index] = "skipped"
            else:
                errors[index] = (_status(failure), f"row {index}: {_describe(failure, node)}")
                statuses[index] = "failed"
    return errors, statuses


def _status(failure: Failure) -> int:
    if failure.stage in _INPUT_STAGES or failure.error_type in _INPUT_ERRORS:
        return 400
    return 500


def _describe(failure: Failure, output: str) -> str:
    where = f"node {failure.node!r}" + ("" if failure.node == output else f" (for {output!r})")
    cause = _WHERE.sub("", failure.message, count=1)  # the row is named; the batch key is not
    return f"{where} failed in {failure.stage}: {failure.error_type}: {cause}"


def _request_error(errors: dict[int, tuple[int, str]]) -> RequestError:
    status = max(code for code, _ in errors.values())
    first = [message for _, message in list(errors.values())[:3]]
    more = f" (and {len(errors) - 3} more rows)" if len(errors) > 3 else ""
    hint = "; send parameters {'partial_results': true} to get the other rows' outputs"
    return RequestError("; ".join(first) + more + hint, status)


def _rows(column: Any, rows: np.ndarray[Any, Any], valid: np.ndarray[Any, Any]) -> Any:
    picked = (
        np.asarray(column)[rows]
        if not isinstance(column, list)
        else np.array([column[i] for i in rows], dtype=object)
    )
    if valid.all() or picked.dtype != object:
        return output_array(picked)
    fill = next((picked[i] for i in range(len(picked)) if valid[i]), None)
    if fill is None:
        return output_array(np.zeros(len(picked)))
    blank = np.zeros_like(np.asarray(fill)) if not isinstance(fill, str) else ""
    filled = np.empty(len(picked), dtype=object)
    for i in range(len(picked)):
        filled[i] = picked[i] if valid[i] else blank
    return output_array(filled)
