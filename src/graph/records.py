"""JSON records in and out: what the command line reads and writes, one object per line."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..core.blocks import Block
from ..core.results import Failure
from .block_state import STATUSES, BlockResult, row_of
from .state import GraphResult

RESERVED_FIELDS = frozenset({"key", "input", "status", "failures", "skipped", "lineage"})
"""Fields of a graph's JSON record besides one per output node; nodes cannot use these names."""


def to_jsonable(value: Any, *, text: bool = False) -> Any:  # noqa: PLR0911 (one return per kind)
    """``value`` with arrays as lists, numpy scalars as numbers and bytes as ``{"b64": ...}``.

    With ``text`` (model outputs), bytes that are UTF-8 are written as text, as TF Serving's REST
    API writes string outputs (a model's labels: ``"ROME"``, not ``{"b64": "Uk9NRQ=="}``); other
    bytes stay ``{"b64": ...}``. Inputs are echoed as ``{"b64": ...}``, exactly as they came.
    """
    if isinstance(value, np.ndarray):
        if value.dtype == np.object_ or (text and value.dtype.kind == "S"):
            return [to_jsonable(v, text=text) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), text=text)
    if isinstance(value, bytes | bytearray):
        if text:
            try:
                return bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                pass
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Block):
        return to_jsonable(value.data, text=text)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, text=text) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v, text=text) for v in value]
    return value


def failure_record(failure: Failure, key_field: str | None) -> dict[str, Any]:
    """The JSON object written for one failure: where, why, and the input to retry."""
    record: dict[str, Any] = {}
    if key_field is not None:
        record[key_field] = to_jsonable(failure.key)
    record.update(
        stage=failure.stage,
        node=failure.node,
        error_type=failure.error_type,
        message=failure.message,
        input=to_jsonable(failure.example),
    )
    return record


def dumps(value: Any) -> str:
    """JSON text of ``value`` (see :func:`to_jsonable`), always valid JSON.

    NaN becomes ``null`` and infinities the strings ``"Infinity"`` and ``"-Infinity"`` (JSON has
    no such numbers); a value JSON cannot hold is written as its ``repr``.
    """
    data = to_jsonable(value)
    try:
        return json.dumps(data, allow_nan=False, default=repr)
    except ValueError:
        return json.dumps(_finite(data), allow_nan=False, default=repr)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def graph_record(result: GraphResult, nodes: Sequence[str]) -> dict[str, Any]:
    """The JSON object of one graph result: the key, one field per output node (``null`` when
    it failed or was skipped), the status, the failures, the skipped outputs and the lineage.

    Unkeyed results also hold their ``input``.
    """
    record: dict[str, Any] = {"key": to_jsonable(result.key)}
    if result.key is None:
        record["input"] = to_jsonable(result.example)
    for name in nodes:
        record[name] = to_jsonable(result.values.get(name), text=True)
    record["status"] = result.status
    record["failures"] = {
        name: {
            "node": failure.node,
            "stage": failure.stage,
            "error_type": failure.error_type,
            "message": failure.message,
        }
        for name, failure in result.failures.items()
        if name in nodes
    }
    record["skipped"] = [name for name in result.skipped if name in nodes]
    record["lineage"] = result.lineage.as_dict()
    return record


def block_records(
    result: BlockResult, nodes: Sequence[str], order: Sequence[str]
) -> Iterator[dict[str, Any]]:
    """The JSON objects of a block's rows, each what :func:`graph_record` writes for the row
    on its own (``order``: the graph's nodes in step order, for the lineage)."""
    codes = result.statuses()
    for row in range(result.rows):
        key = result.row_key(row)
        record: dict[str, Any] = {"key": to_jsonable(key)}
        if key is None:
            record["input"] = to_jsonable(result.example.row(row))
        failures = {}
        skipped = []
        for name in nodes:
            valid = result.valid.get(name)
            has = valid is not None and bool(valid[row])
            record[name] = to_jsonable(row_of(result.values[name], row), text=True) if has else None
            failure = result.failures.get(name, {}).get(row)
            if failure is not None:
                failures[name] = {
                    "node": failure.node,
                    "stage": failure.stage,
                    "error_type": failure.error_type,
                    "message": failure.message,
                }
            elif not has:
                skipped.append(name)
        record["status"] = STATUSES[int(codes[row])]
        record["failures"] = failures
        record["skipped"] = skipped
        record["lineage"] = result.lineage(row, order).as_dict()
        yield record


class GraphRecords:
    """A graph result as the JSON objects written for it: one per element, one per block row.

    Picklable (it travels to Beam workers with the sink).
    """

    def __init__(self, nodes: Sequence[str], order: Sequence[str]) -> None:
        self.nodes = tuple(nodes)
        self.order = tuple(order)

    def __call__(self, result: Any) -> Iterator[dict[str, Any]]:
        if isinstance(result, BlockResult):
            yield from block_records(result, self.nodes, self.order)
        else:
            yield graph_record(result, self.nodes)


def graph_failure_record(failure: Failure) -> dict[str, Any]:
    """The JSON object of an element no output of a graph could be made for."""
    return {
        "key": to_jsonable(failure.key),
        "node": failure.node,
        "stage": failure.stage,
        "error_type": failure.error_type,
        "message": failure.message,
        "input": to_jsonable(failure.example),
    }
