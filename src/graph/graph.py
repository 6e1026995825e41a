"""``ig.Graph``: build a model-agnostic topology of handlers and functions, checked as you go.

Example:
    >>> g = Graph()                                                         # doctest: +SKIP
    >>> five = g.model("five", "onnx", path="times_5.onnx")                 # doctest: +SKIP
    >>> ten = g.model("ten", "onnx", path="times_10.onnx")                  # doctest: +SKIP
    >>> g.chain(five, to_x, ten)          # input -> five -> to_x -> ten    # doctest: +SKIP
    >>> results = list(g.run([("a", [105.0])]))                             # doctest: +SKIP

Every method that adds a node checks what it can at once (the handler exists, its config is valid,
a function takes as many arguments as it has inputs); :meth:`Graph.validate` checks the whole graph
(cycles, unconnected or unused nodes, route targets, condition fields) and runs before any data
moves, when the graph is run.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..core.errors import ConfigError, GraphError
from ..core.handler import ModelHandler
from ..core.refresh import DEFAULT_POLL_S, ModelUpdate, with_path
from ..plugins.manager import HandlerRegistry, get_plugin_manager
from .block_state import BlockResult
from .conditions import Condition, as_condition
from .nodes import AnyHandler, FunctionNode, MergeNode, ModelNode, Node, RouteNode, SplitNode
from .render import mermaid
from .run import GraphStats, run_graph
from .stages import Step
from .state import INPUT, RESERVED, GraphResult
from .validate import compile_steps, suggest

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")

Target = str | Callable[..., Any]
"""A node name, or a plain function (it becomes a function node named after it)."""


class Graph:
    """A graph of model, function, route, split and merge nodes over one input.

    Args:
        name: A label for logs, metrics and Beam step names.
        plugins: The plugin manager handler names are looked up in (default: a fresh one).
        input_fields: The fields the input records have, when known (e.g. a CSV header):
            conditions on ``input.<field>`` are checked against them.
    """

    def __init__(
        self,
        name: str = "graph",
        *,
        plugins: HandlerRegistry | None = None,
        input_fields: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.input_fields = list(input_fields) if input_fields is not None else None
        self._plugins = plugins
        self._nodes: dict[str, Node] = {}
        self._outputs: list[str] | None = None
        self._steps: list[Step] | None = None
        self.watches: dict[str, str] = {}
        self.watch_interval_s = DEFAULT_POLL_S

    @classmethod
    def from_nodes(
        cls,
        nodes: Iterable[Node],
        *,
        name: str = "graph",
        plugins: HandlerRegistry | None = None,
        input_fields: Sequence[str] | None = None,
    ) -> Graph:
        """A graph of nodes made elsewhere (a spec), wired already; checked by :meth:`validate`.

        Unlike the builder methods, nodes may name inputs that come later in ``nodes``.
        """
        graph = cls(name, plugins=plugins, input_fields=input_fields)
        for node in nodes:
            graph._check_name(node.name)
            graph._nodes[node.name] = node
        return graph

    @classmethod
    def of_handler(cls, handler: AnyHandler) -> Graph:
        """The graph of one model node running ``handler`` on the graph's input, node and graph
        named by its ``model_id`` (any text): what ``predict`` and ``RunInference`` run."""
        graph = cls(handler.model_id)
        graph._nodes[handler.model_id] = ModelNode(handler.model_id, handler, INPUT, select=False)
        return graph

    # -- adding nodes --------------------------------------------------------------------------

    @property
    def input(self) -> str:
        """The graph's input, for ``input=`` and :meth:`chain`: the string ``"input"``."""
        return INPUT

    def model(
        self,
        name: str,
        handler: str | AnyHandler,
        /,
        *,
        input: str | None = None,
        input_field: str | None = None,
        **options: Any,
    ) -> str:
        """Add a node that runs a handler: a registered name with config ``options``, or a handler.

        The handler's ``model_id`` defaults to the node's name (metrics, failure records).

        Returns:
            The node's name, to wire it to others.

        Raises:
            HandlerNotFoundError: no handler has that name (the message lists them).
            ConfigError: an option is invalid (the message names the node and the field).
        """
        self._check_name(name)
        if isinstance(handler, str):
            options.setdefault("model_id", name)
            try:
                built = self._plugin_manager().create(handler, **options)
            except ConfigError as exc:
                raise type(exc)(f"node {name!r}: {exc}") from exc
        elif isinstance(handler, ModelHandler):
            if options:
                raise ConfigError(
                    f"node {name!r}: pass a handler or a handler name with options, not both"
                )
            built = handler
        else:
            raise ConfigError(
                f"node {name!r}: handler must be a registered name or a ModelHandler, got "
                f"{type(handler).__name__}"
            )
        return self._add(ModelNode(name, built, self._source(input), input_field))

    def function(
        self,
        name: str,
        fn: Callable[..., Any] | str,
        /,
        *,
        inputs: str | Sequence[str] | None = None,
        search_path: str | None = None,
        columnar: bool = False,
    ) -> str:
        """Add a node that calls ``fn`` with the values of its inputs, in order.

        Args:
            name: The node's name.
            fn: A callable, or a ``module:function`` reference (imported now).
            inputs: Node names, ``"input"`` or ``"key"``; one name or several. Leave it out
                to wire the node with :meth:`chain`.
            search_path: A directory to import ``module`` from (spec files use their own).
            columnar: ``fn`` takes and returns whole columns (one row per element), so it runs
                once per block without per-row work (see :class:`FunctionNode`).
        """
        self._check_name(name)
        names = [inputs] if isinstance(inputs, str) else list(inputs or [])
        node = FunctionNode.of(name, fn, names, search_path=search_path, columnar=columnar)
        return self._add(node)

    def route(
        self,
        name: str,
        cases: Iterable[tuple[Condition | Mapping[str, Any], str]],
        /,
        *,
        default: str | None = None,
        input: str | None = None,
    ) -> str:
        """Send each element to the first target whose condition holds, else to ``default``.

        Targets are nodes added earlier and not yet connected; the route becomes their input.
        An element no condition matches, with no default, is recorded as skipped.

        Example:
            >>> g.route("by_size", [(ig.when("input.x", "gt", 500), "big")], default="small")
            ... # doctest: +SKIP
        """
        self._check_name(name)
        parsed = tuple((as_condition(condition), target) for condition, target in cases)
        if not parsed and default is None:
            raise GraphError(f"route {name!r} needs at least one case or a default")
        node = RouteNode(name, parsed, default, self._source(input))
        self._add(node)
        self._wire_targets(node.name, node.targets)
        return name

    def split(
        self,
        name: str,
        arms: Mapping[str, float],
        /,
        *,
        salt: str | None = None,
        input: str | None = None,
    ) -> str:
        """Send each element to one arm by a stable hash of its key, in proportion to weights.

        Example:
            >>> g.split("ab", {"control": 0.9, "candidate": 0.1})          # doctest: +SKIP
        """
        self._check_name(name)
        node = SplitNode(name, tuple(arms.items()), salt or "", self._source(input))
        self._add(node)
        self._wire_targets(node.name, node.targets)
        return name

    def merge(self, name: str, /, *inputs: str) -> str:
        """Add a node whose value is the first of ``inputs`` that has one (joins route arms)."""
        self._check_name(name)
        if len(inputs) < 2:
            raise GraphError(f"merge {name!r} needs two inputs or more, got {list(inputs)}")
        return self._add(MergeNode(name, tuple(inputs)))

    # -- topologies ----------------------------------------------------------------------------

    def chain(self, *steps: Target, input: str | None = None) -> str:
        """Connect ``steps`` in sequence: each takes the previous one's output.

        The first step takes ``input`` (default: the graph's input) unless it is already
        connected. Plain functions become function nodes named after them.

        Returns:
            The last step's name.
        """
        if not steps:
            raise GraphError("chain() needs at least one step")
        names = [self._step_name(step) for step in steps]
        first = self._nodes[names[0]]
        if not first.inputs:
            self._connect(names[0], self._source(input) or INPUT)
        elif input is not None and first.inputs != (input,):
            raise GraphError(
                f"chain: {names[0]!r} already takes input from {', '.join(first.inputs)}"
            )
        for previous, name in itertools.pairwise(names):
            self._connect(name, previous)
        return names[-1]

    def branch(self, *steps: Target, input: str | None = None) -> tuple[str, ...]:
        """Feed the same input to every step, in parallel; results are joined per element.

        Returns:
            The steps' names (each is an output unless something consumes it).
        """
        if not steps:
            raise GraphError("branch() needs at least one step")
        source = self._source(input) or INPUT
        names = tuple(self._step_name(step) for step in steps)
        for name in names:
            self._connect(name, source)
        return names

    def watch(self, patterns: Mapping[str, str], *, interval_s: float = DEFAULT_POLL_S) -> Graph:
        """Follow new model files: model node -> glob pattern of its models. ``graph.run`` and,
        in streaming pipelines, ``RunGraph`` then swap in the newest file each pattern
        matches, polled every ``interval_s`` (see :func:`infergraph.watch_models`).

        Raises:
            GraphError: a name is not a model node whose handler has a ``path``.
        """
        for name in patterns:
            node = self._nodes.get(name)
            if not isinstance(node, ModelNode):
                models = [n for n, v in self._nodes.items() if isinstance(v, ModelNode)]
                raise GraphError(
                    f"cannot watch {name!r}: it is not a model node (model nodes: {models})",
                    node=name,
                )
            with_path(node.handler, str(patterns[name]))  # the handler takes a path
        if interval_s <= 0:
            raise GraphError(f"watch interval_s must be above 0, got {interval_s!r}")
        self.watches.update(patterns)
        self.watch_interval_s = interval_s
        return self

    def outputs(self, *names: str) -> Graph:
        """Choose the output nodes (default: every node nothing else takes input from)."""
        for name in names:
            if name not in self._nodes:
                raise GraphError(f"output {name!r} is not a node{suggest(name, self._nodes)}")
        self._outputs = list(names)
        self._steps = None
        return self

    # -- reading -------------------------------------------------------------------------------

    @property
    def nodes(self) -> dict[str, Node]:
        """The nodes by name, in the order they were added."""
        return dict(self._nodes)

    @property
    def output_names(self) -> list[str]:
        """The output nodes: as chosen, else every node no other node takes input from."""
        if self._outputs is not None:
            return list(self._outputs)
        consumed = {source for node in self._nodes.values() for source in node.inputs}
        return [
            name
            for name, node in self._nodes.items()
            if name not in consumed and not isinstance(node, RouteNode | SplitNode)
        ]

    def validate(self) -> list[Step]:
        """Check the whole graph; return its steps in run order.

        Raises:
            GraphError: a cycle, an unconnected or unused node, an unknown name, a route
                target wired elsewhere, or a condition on a field no upstream node produces.
        """
        if self._steps is None:
            self._steps = compile_steps(self._nodes, self.output_names, self.input_fields)
        return self._steps

    def handlers(self) -> dict[str, AnyHandler]:
        """Each model node's handler, by node name."""
        return {n.name: n.handler for n in self._nodes.values() if isinstance(n, ModelNode)}

    # -- running -------------------------------------------------------------------------------

    def run(
        self,
        data: Iterable[Any],
        *,
        keyed: bool | None = None,
        metrics: GraphStats | None = None,
        chunk_size: int | None = None,
        model_updates: Iterable[ModelUpdate] | None = None,
    ) -> Iterator[GraphResult | BlockResult]:
        """Run the graph in this process: one result per element, in input order.

        Each element gives a :class:`GraphResult`; a block a :class:`BlockResult` (columns and
        per-row statuses, every row's key kept).

        Args:
            data: Examples, ``(key, example)`` pairs, or blocks (see ``keyed``).
            keyed: As for :func:`infergraph.predict`: ``None`` takes 2-tuples as pairs.
            metrics: A :class:`GraphStats` to read per-node counters and latency afterwards.
            chunk_size: Elements taken from ``data`` at a time (default: the largest batch of
                any model node); results come out a chunk at a time. Each chunk runs on a
                worker thread while the next one is read (see
                :mod:`infergraph.core.ahead`): a chunk's results come once the next chunk has
                been read or ``data`` has ended.
            model_updates: :class:`~infergraph.ModelUpdate` records, read as they come (an
                endless iterable such as :func:`~infergraph.watch_models` is fine): each new
                model loads in the background and answers from the next chunk on; a model
                that fails to load is reported and the old one kept. Each result's lineage
                names the model versions that answered it (``lineage.models``).

        Raises:
            GraphError: the graph is invalid (before any data is read).
            ModelLoadError: a model could not be loaded (before any result).
        """
        return run_graph(
            self,
            data,
            keyed=keyed,
            metrics=metrics,
            chunk_size=chunk_size,
            model_updates=model_updates,
        )

    def to_mermaid(self) -> str:
        """The graph as a Mermaid flowchart (GitHub and many doc tools draw it)."""
        return mermaid(self.nodes, self.output_names)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, nodes={list(self._nodes)}, outputs={self.output_names})"

    # -- internals -----------------------------------------------------------------------------

    def _plugin_manager(self) -> HandlerRegistry:
        if self._plugins is None:
            self._plugins = get_plugin_manager()
        return self._plugins

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise GraphError(
                f"node name {name!r} is not valid: use letters, digits, '_' and '-', starting "
                "with a letter or '_'"
            )
        if name in RESERVED:
            raise GraphError(f"{name!r} is reserved (the graph's input and key); rename the node")
        if name in self._nodes:
            raise GraphError(f"there is already a node named {name!r}")

    def _source(self, name: str | None) -> str | None:
        if name is None or name in RESERVED or name in self._nodes:
            return name
        raise GraphError(
            f"input {name!r} is not a node; nodes: {', '.join(self._nodes) or 'none yet'}"
            f"{suggest(name, [INPUT, *self._nodes])}"
        )

    def _add(self, node: Node) -> str:
        self._nodes[node.name] = node
        self._steps = None
        return node.name

    def _step_name(self, step: Target) -> str:
        if isinstance(step, str):
            if step not in self._nodes:
                raise GraphError(f"{step!r} is not a node{suggest(step, self._nodes)}")
            return step
        if callable(step):
            base = getattr(step, "__name__", "function")
            base = base if _NAME.match(base) and base not in RESERVED else "function"
            name, n = base, 1
            while name in self._nodes:
                n += 1
                name = f"{base}_{n}"
            return self.function(name, step)
        raise GraphError(f"a step must be a node name or a function, got {type(step).__name__}")

    def _connect(self, name: str, source: str) -> None:
        node = self._nodes[name]
        if node.inputs:
            raise GraphError(
                f"node {name!r} already takes input from {', '.join(node.inputs)}; "
                "a node has one input (use a function or merge node to combine several)"
            )
        if isinstance(node, FunctionNode):
            self._nodes[name] = node.with_inputs([source])
        elif isinstance(node, MergeNode):
            raise GraphError(f"merge {name!r} takes the inputs it was made with")
        else:
            self._nodes[name] = replace(node, input=source)
        self._steps = None

    def _wire_targets(self, source: str, targets: Sequence[str]) -> None:
        for target in targets:
            if target not in self._nodes:
                raise GraphError(
                    f"{source!r} sends to {target!r}, which is not a node yet; add the target "
                    f"nodes first{suggest(target, self._nodes)}"
                )
            self._connect(target, source)
