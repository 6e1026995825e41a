"""What flows through a graph: one :class:`Record` per input element, one :class:`GraphResult` out.

A record carries the element's key and example, the value or failure of each node it reached,
the arm each route and split took, and the nodes it went through. Every node is, for a record,
exactly one of: a value, a failure, or skipped (not reached: a route or split sent the element
elsewhere, or an upstream node was skipped).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..results import Failure, short_repr

INPUT = "input"
"""The name of the graph's input in node inputs and field paths."""
KEY = "key"
"""The name of the element's key in function inputs and field paths."""
RESERVED = frozenset({INPUT, KEY})

Status = Literal["ok", "partial", "skipped", "failed"]


_UNSET: dict[str, Any] = {}
"""The shared, never written, ``failures`` and ``routes`` of a record that has none yet (most
records never fail nor meet a route: not allocating these dicts per record saves time)."""


class Record:
    """One input element on its way through a graph (mutable; the stages fill it in).

    ``failures`` and ``routes`` are read as dicts; they are written through :meth:`fail` and
    :meth:`take_route` only.
    """

    __slots__ = ("example", "failures", "key", "path", "routes", "values")

    def __init__(self, key: Any, example: Any) -> None:
        self.key = key
        self.example = example
        self.values: dict[str, Any] = {INPUT: example}
        self.failures: dict[str, Failure] = _UNSET
        self.routes: dict[str, str | None] = _UNSET
        self.path: list[str] = []

    def fail(self, node: str, failure: Failure) -> None:
        """Record that ``node`` has no value for this element, because of ``failure``."""
        if self.failures is _UNSET:
            self.failures = {}
        self.failures[node] = failure

    def take_route(self, node: str, target: str | None) -> None:
        """Record the target route or split ``node`` chose (``None``: none)."""
        if self.routes is _UNSET:
            self.routes = {}
        self.routes[node] = target

    @classmethod
    def failed(cls, failure: Failure) -> Record:
        """A record for an element that failed before entering the graph (stage ``input``)."""
        record = cls(failure.key, failure.example)
        del record.values[INPUT]
        record.fail(INPUT, failure)
        return record

    def lookup(self, name: str) -> tuple[bool, Any]:
        """``(True, value)`` of a node, the input or the key; ``(False, None)`` otherwise."""
        if name == KEY:
            return True, self.key
        if name in self.values:
            return True, self.values[name]
        return False, None

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.key, self.example, self.values, self.failures, self.routes, self.path)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.key, self.example, self.values, self.failures, self.routes, self.path = state

    def __repr__(self) -> str:
        return (
            f"Record(key={self.key!r}, values={sorted(self.values)}, "
            f"failures={sorted(self.failures)}, routes={self.routes}, path={self.path})"
        )


@dataclass(frozen=True, slots=True)
class Lineage:
    """Where an element went: the nodes that ran on it, in order, and the arm of each route.

    Attributes:
        nodes: Node names in the order they ran on the element (failed ones included).
        routes: Route or split name -> the node it sent the element to (``None``: nowhere).
    """

    nodes: tuple[str, ...]
    routes: dict[str, str | None]

    def as_dict(self) -> dict[str, Any]:
        """The lineage as plain data (for JSON output)."""
        return {"nodes": list(self.nodes), "routes": dict(self.routes)}


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
        order = {name: i for i, name in enumerate(self.lineage.nodes)}
        failures = sorted(self.failures.values(), key=lambda f: order.get(f.node, -1))
        return failures[0]

    def to_failure(self) -> Failure:
        """One failure record for the element: the first failure on its path, with the graph's
        input as the example (what to retry), naming the other failed outputs.

        Raises:
            ValueError: the result has no failure.
        """
        root = self.root_failure()
        if root is None:
            raise ValueError(f"result for key {self.key!r} has no failure")
        others = sorted(
            {f"{name}: {f.node} ({f.stage})" for name, f in self.failures.items() if f is not root}
        )
        extra = f" [other outputs failed: {'; '.join(others)}]" if others else ""
        return replace(root, example=self.example, key=self.key, message=root.message + extra)

    def __repr__(self) -> str:
        values = {k: short_repr(v, 40) for k, v in self.values.items()}
        return (
            f"GraphResult(key={self.key!r}, status={self.status!r}, values={values}, "
            f"failures={sorted(self.failures)}, skipped={list(self.skipped)})"
        )
