"""What comes out of a graph for one element: a :class:`GraphResult` and its :class:`Lineage`.

Every node is, for an element, exactly one of: a value, a failure, or skipped (not reached: a
route or split sent the element elsewhere, or an upstream node was skipped). Elements run
through the graph in blocks (see :mod:`.block_state`); an element's result is a view of its
block's result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..core.results import Failure, short_repr

INPUT = "input"
"""The name of the graph's input in node inputs and field paths."""
KEY = "key"
"""The name of the element's key in function inputs and field paths."""
RESERVED = frozenset({INPUT, KEY})

Status = Literal["ok", "partial", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where an element went: the nodes that ran on it, in order, and the arm of each route.

    Attributes:
        nodes: Node names in the order they ran on the element (failed ones included).
        routes: Route or split name -> the node it sent the element to (``None``: nowhere).
        models: Model node -> the version of the model that answered (``path@modified``),
            in runs that take model updates (see :mod:`infergraph.core.refresh`).
    """

    nodes: tuple[str, ...]
    routes: dict[str, str | None]
    models: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The lineage as plain data (for JSON output)."""
        data: dict[str, Any] = {"nodes": list(self.nodes), "routes": dict(self.routes)}
        if self.models:
            data["models"] = dict(self.models)
        return data


@dataclass(slots=True, eq=False)
class GraphResult:
    """What a graph made of one input element: a value, a failure or a skip per output node.

    Attributes:
        key: The element's key (``None`` for unkeyed input).
        example: The input example as given.
        values: Output node -> its value, for the outputs that got one.
        failures: Output node -> the failure that stopped it (the failing node may be upstream:
            ``failure.node`` names it).
        skipped: Output nodes the element did not reach (routed elsewhere, or nowhere).
        lineage: The nodes it went through and the routes taken.
    """

    key: Any
    example: Any
    values: dict[str, Any]
    failures: dict[str, Failure]
    skipped: tuple[str, ...]
    lineage: Lineage = field(default_factory=lambda: Lineage((), {}))

    @property
    def status(self) -> Status:
        """``ok`` (no output failed), ``partial`` (some failed, some got values), ``failed``
        (every output failed or was skipped, at least one failed) or ``skipped`` (none reached)."""
        if self.failures:
            return "partial" if self.values else "failed"
        return "ok" if self.values else "skipped"

    def __getitem__(self, node: str) -> Any:
        """The value of output ``node``; a KeyError says why there is none."""
        if node in self.values:
            return self.values[node]
        if node in self.failures:
            failure = self.failures[node]
            raise KeyError(f"output {node!r} failed in node {failure.node!r}: {failure.message}")
        if node in self.skipped:
            raise KeyError(f"output {node!r} was skipped (routes: {self.lineage.routes})")
        raise KeyError(f"no output named {node!r}; outputs: {self.outputs}")

    @property
    def outputs(self) -> list[str]:
        """Every output node's name."""
        return sorted({*self.values, *self.failures, *self.skipped})

    def root_failure(self) -> Failure | None:
        """The first failure along the element's path (the cause of the others), if any."""
        if not self.failures:
            return None
        return _in_path_order(self.failures, self.lineage.nodes)[0][1]

    def to_failure(self) -> Failure:
        """One failure record for the element: the first failure on its path, with the graph's
        input as the example (what to retry), naming the other failed outputs.

        Raises:
            ValueError: the result has no failure.
        """
        if not self.failures:
            raise ValueError(f"result for key {self.key!r} has no failure")
        return first_failure(self.failures, self.lineage.nodes, self.example, self.key)

    def __repr__(self) -> str:
        values = {k: short_repr(v, 40) for k, v in self.values.items()}
        return (
            f"GraphResult(key={self.key!r}, status={self.status!r}, values={values}, "
            f"failures={sorted(self.failures)}, skipped={list(self.skipped)})"
        )


def first_failure(
    failures: Mapping[str, Failure], order: Sequence[str], example: Any, key: Any
) -> Failure:
    """One failure record for an element: the first of its outputs' ``failures`` along ``order``
    (the cause of the others), with the element's input as the example (what to retry) and
    the other failed outputs named."""
    found = _in_path_order(failures, order)
    root = found[0][1]
    others = sorted({f"{name}: {f.node} ({f.stage})" for name, f in found if f is not root})
    extra = f" [other outputs failed: {'; '.join(others)}]" if others else ""
    return replace(root, example=example, key=key, message=root.message + extra)


def _in_path_order(
    failures: Mapping[str, Failure], order: Sequence[str]
) -> list[tuple[str, Failure]]:
    position = {name: i for i, name in enumerate(order)}
    return sorted(failures.items(), key=lambda item: position.get(item[1].node, -1))
