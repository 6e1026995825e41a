"""Applying one node to a list of records: the one place node semantics are applied.

A :class:`Step` is a node compiled against its graph (which of its inputs are routes or splits).
``Step.apply(records, ...)`` fills in, for every row of every record, the node's value, failure
or skip. Elements that come one at a time ride in blocks too (see
:meth:`~.block_state.BlockRecord.of_rows`), so the in-process path (on chunks of records) and the
Beam path (on the batches of a ``ParDo``) run this code alone, and give identical results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..core.execute import BatchRunner
from ..core.metrics import MetricsSink
from .block_state import BlockRecord
from .columns import apply_to_blocks
from .nodes import ModelNode, Node

Clock = Callable[[], float]


@dataclass(frozen=True)
class Step:
    """A node and what its graph says about it.

    Attributes:
        node: The node.
        gates: Inputs that are routes or splits: the node runs on an element only when the
            route or split sent it here.
        targets: Route or split -> its targets, in index order.
    """

    node: Node
    gates: tuple[str, ...] = ()
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

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
        records: Sequence[BlockRecord],
        metrics: MetricsSink,
        runner: BatchRunner | None = None,
        *,
        clock: Clock = time.perf_counter,
    ) -> None:
        """Give every row of every record this node's value, failure or skip (in place)."""
        start = clock()
        apply_to_blocks(
            self.node, self.gates, self.targets, records, metrics=metrics, runner=runner
        )
        metrics.distribution("node_latency_us", int((clock() - start) * 1_000_000))


__all__ = ["Step"]


class Compiled(Protocol):
    """What running a graph needs of it (a :class:`~infergraph.Graph` is one): its steps in run
    order and its output nodes."""

    @property
    def output_names(self) -> list[str]:
        """The output nodes."""
        ...

    watches: dict[str, str]
    """Model node -> glob pattern of model files to follow while the graph runs."""

    watch_interval_s: float
    """Seconds between two looks at the watched files."""

    def validate(self) -> list[Step]:
        """The steps in run order, the graph checked."""
        ...
