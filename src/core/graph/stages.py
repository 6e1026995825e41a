"""Applying one node to a list of records: the code both execution paths share.

A :class:`Step` is a node compiled against its graph (which of its inputs are routes or splits).
``Step.apply(records, ...)`` fills in, for every record, the node's value, failure or skip, and
is the only place node semantics live: the in-process path calls it on chunks of records, the
Beam path on the batches of a ``ParDo``, so both give identical results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import InputError
from ..execute import BatchRunner, Item
from ..fields import select_input
from ..metrics import MetricsSink
from ..results import Failure, short_repr
from .block_state import BlockRecord
from .columns import apply_to_blocks
from .hashing import stable_fraction
from .nodes import FunctionNode, MergeNode, ModelNode, Node, RouteNode, SplitNode, failure_message
from .state import INPUT, KEY, Record

Clock = Callable[[], float]


@dataclass(frozen=True)
class Step:
    """A node and what its graph says about it.

    Attributes:
        node: The node.
        gates: Inputs that are routes or splits: the node runs on an element only when the
            route or split sent it here.
    """

    node: Node
    gates: tuple[str, ...] = ()
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def simple(self) -> bool:
        """One input that is not the key, no gate, not a merge: the common case, made fast."""
        inputs = self.node.inputs
        return (
            not self.gates
            and not isinstance(self.node, MergeNode)
            and len(inputs) == 1
            and inputs[0] != KEY
        )

    @property
    def name(self) -> str:
        """The node's name."""
        return self.node.name

    @property
    def is_model(self) -> bool:
        """Whether the node runs a handler (and so needs a loaded model)."""
        return isinstance(self.node, ModelNode)

    def apply(
        self,
        records: Sequence[Record | BlockRecord],
        metrics: MetricsSink,
        runner: BatchRunner | None = None,
        *,
        clock: Clock = time.perf_counter,
    ) -> None:
        """Give every record this node's value, failure or skip (in place)."""
        start = clock()
        rows = [r for r in records if isinstance(r, Record)]
        if len(rows) < len(records):
            blocks = [r for r in records if isinstance(r, BlockRecord)]
            apply_to_blocks(self, blocks, metrics, runner)
        if rows:
            self._apply_rows(rows, metrics, runner)
        metrics.distribution("node_latency_us", int((clock() - start) * 1_000_000))

    def _apply_rows(
        self, records: Sequence[Record], metrics: MetricsSink, runner: BatchRunner | None
    ) -> None:
        active, skipped = self._gather_simple(records) if self.simple else self._gather(records)
        if skipped:
            metrics.counter("skipped", skipped)
        if not active:
            return
        metrics.counter("elements", len(active))
        node = self.node
        if isinstance(node, ModelNode):
            assert runner is not None, f"model node {node.name!r} needs its runner"
            _apply_model(node, runner, active, metrics)
        elif isinstance(node, FunctionNode):
            _apply_function(node, active, metrics)
        elif isinstance(node, RouteNode):
            _apply_route(node, active, metrics)
        elif isinstance(node, SplitNode):
            _apply_split(node, active, metrics)
        else:
            _apply_merge(node, active)

    def _gather_simple(
        self, records: Sequence[Record]
    ) -> tuple[list[tuple[Record, list[Any]]], int]:
        name, source = self.name, self.node.inputs[0]
        active = []
        skipped = 0
        for record in records:
            values = record.values
            if source in values:
                record.path.append(name)
                active.append((record, [values[source]]))
                continue
            failures = record.failures
            failure = failures.get(source) or failures.get(INPUT)
            if failure is None:
                skipped += 1
            else:
                record.fail(name, failure)
        return active, skipped

    def _gather(self, records: Sequence[Record]) -> tuple[list[tuple[Record, list[Any]]], int]:
        active = []
        skipped = 0
        for record in records:
            state = self._gate(record)
            if state is None:
                skipped += 1
            elif isinstance(state, Failure):
                record.fail(self.name, state)
            else:
                record.path.append(self.name)
                active.append((record, state))
        return active, skipped

    def _gate(self, record: Record) -> list[Any] | Failure | None:
        """The input values when the node runs on ``record``; its upstream failure; or None
        (skipped)."""
        if INPUT in record.failures:  # the element could not be read: every node fails
            return record.failures[INPUT]
        for gate in self.gates:
            if record.routes.get(gate) != self.name and gate not in record.failures:
                return None
        if isinstance(self.node, MergeNode):
            return _merge_inputs(self.node, record)
        values = []
        for name in self.node.inputs:
            if name == KEY:
                values.append(record.key)
            elif name in record.values:
                values.append(record.values[name])
            elif name in record.failures:
                return record.failures[name]
            else:
                return None
        return values


def _merge_inputs(node: MergeNode, record: Record) -> list[Any] | Failure | None:
    failure = None
    for name in node.inputs:
        if name in record.values:
            return [record.values[name]]
        failure = failure or record.failures.get(name)
    return failure


# -- the node kinds ------------------------------------------------------------------------------


def _apply_model(
    node: ModelNode, runner: BatchRunner, active: list[tuple[Record, list[Any]]], metrics: Any
) -> None:
    handler = runner.handler
    items: list[Item] = []
    owners: list[Record] = []
    field, names, whole = node.input_field, handler.input_names, handler.takes_records
    name = node.name
    for record, (value,) in active:
        if field is not None or (type(value) is not np.ndarray and isinstance(value, Mapping)):
            try:
                value = select_input(  # noqa: PLW2901
                    value, input_field=field, input_names=names, whole=whole
                )
            except InputError as exc:
                record.fail(name, _failure(node, record, "input", exc, metrics))
                continue
        items.append(_new(Item, (record.key, value)))
        owners.append(record)
    if not items:
        return
    for record, output in zip(owners, runner.outputs(items), strict=True):
        if type(output) is Failure:
            record.fail(name, output if output.node == name else replace(output, node=name))
        else:
            record.values[name] = output


_new = tuple.__new__


def _apply_function(
    node: FunctionNode, active: list[tuple[Record, list[Any]]], metrics: MetricsSink
) -> None:
    fn = node.function
    for record, values in active:
        try:
            if node.columnar:  # one row as columns of one row
                column = fn(*[_one_row(value) for value in values])
                record.values[node.name] = _first_row(column, node.name)
            else:
                record.values[node.name] = fn(*values)
        except Exception as exc:
            record.fail(node.name, _failure(node, record, "function", exc, metrics))


def _apply_route(
    node: RouteNode, active: list[tuple[Record, list[Any]]], metrics: MetricsSink
) -> None:
    for record, (value,) in active:
        try:
            target = next(
                (target for condition, target in node.cases if condition.evaluate(record.lookup)),
                node.default,
            )
        except Exception as exc:
            record.fail(node.name, _failure(node, record, "route", exc, metrics))
            continue
        record.values[node.name] = value
        record.take_route(node.name, target)
        if target is None:
            metrics.counter("unrouted")


def _apply_split(
    node: SplitNode, active: list[tuple[Record, list[Any]]], metrics: MetricsSink
) -> None:
    total = sum(weight for _, weight in node.arms)
    for record, (value,) in active:
        if record.key is None:
            error = InputError(
                f"split {node.name!r} assigns arms by key, and this element has none; "
                "pass (key, example) pairs (or a key field when reading files)"
            )
            record.fail(node.name, _failure(node, record, "split", error, metrics))
            continue
        point = stable_fraction(record.key, node.salt or node.name) * total
        arm = node.arms[-1][0]
        for name, weight in node.arms:
            if point < weight:
                arm = name
                break
            point -= weight
        record.values[node.name] = value
        record.take_route(node.name, arm)


def _apply_merge(node: MergeNode, active: list[tuple[Record, list[Any]]]) -> None:
    for record, (value,) in active:
        record.values[node.name] = value


# -- helpers -------------------------------------------------------------------------------------


def _one_row(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {name: np.asarray([v]) for name, v in value.items()}
    return np.asarray([value])


def _first_row(column: Any, node: str) -> Any:
    arrays = list(column.values()) if isinstance(column, Mapping) else [column]
    if any(np.ndim(a) == 0 or len(a) != 1 for a in arrays):
        raise InputError(
            f"columnar function {node!r} returned {[np.shape(a) for a in arrays]} for 1 row; "
            "it must return one row per input row"
        )
    if isinstance(column, Mapping):
        return {name: value[0] for name, value in column.items()}
    return column[0]


def _failure(
    node: Node, record: Record, stage: str, exc: BaseException, metrics: MetricsSink
) -> Failure:
    metrics.counter("failures")
    where = f"key {record.key!r}" if record.key is not None else short_repr(record.example, 60)
    return Failure(
        example=record.example,
        key=record.key,
        stage=stage,
        node=node.name,
        error_type=type(exc).__name__,
        message=failure_message(node, stage, where, exc),
    )


__all__ = ["INPUT", "Step"]
