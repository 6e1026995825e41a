"""Whole-graph checks, made before any data moves, and the order the nodes run in.

Each problem is a :class:`GraphError` naming the node and saying how to fix it: a node with no
input, an input that names no node (with a "did you mean"), a cycle, a node that feeds no
output, a route target wired elsewhere, a condition on a field no upstream node produces.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from ..core.errors import GraphError
from .conditions import root_of
from .nodes import FunctionNode, Node, RouteNode, SplitNode
from .stages import Step
from .state import INPUT, KEY, RESERVED


def compile_steps(
    nodes: Mapping[str, Node], outputs: Sequence[str], input_fields: Sequence[str] | None = None
) -> list[Step]:
    """Check the graph and return its nodes as steps, in an order where inputs come first.

    Raises:
        GraphError: naming the first problem found.
    """
    if not nodes:
        raise GraphError("the graph has no nodes; add one with graph.model(...)")
    _check_inputs(nodes)
    order = _topological(nodes)
    _check_outputs(nodes, outputs)
    _check_routes(nodes)
    ancestors = _ancestors(nodes, order)
    _check_conditions(nodes, ancestors, input_fields)
    gates = {
        name: tuple(i for i in node.inputs if isinstance(nodes.get(i), RouteNode | SplitNode))
        for name, node in nodes.items()
    }
    targets = {
        name: node.targets
        for name, node in nodes.items()
        if isinstance(node, RouteNode | SplitNode)
    }
    return [
        Step(nodes[name], gates[name], {gate: targets[gate] for gate in gates[name]})
        for name in order
    ]


def suggest(name: str, choices: Iterable[str]) -> str:
    """``. Did you mean 'x'?`` for a close match, else an empty string."""
    hint = difflib.get_close_matches(name, list(choices), n=1)
    return f". Did you mean {hint[0]!r}?" if hint else ""


def _check_inputs(nodes: Mapping[str, Node]) -> None:
    for name, node in nodes.items():
        if not node.inputs:
            raise GraphError(
                f"node {name!r} takes no input: connect it, e.g. graph.chain({name!r}) to feed "
                "it the graph's input, or give it input=... when you add it",
                node=name,
            )
        for source in node.inputs:
            if source == KEY and not isinstance(node, FunctionNode):
                raise GraphError(
                    f"node {name!r} takes input 'key', which only function nodes may take",
                    node=name,
                )
            if source in RESERVED or source in nodes:
                continue
            known = [INPUT, *nodes]
            raise GraphError(
                f"node {name!r} takes input from {source!r}, which is not a node; nodes: "
                f"{', '.join(nodes)}{suggest(source, known)}",
                node=name,
            )


def _topological(nodes: Mapping[str, Node]) -> list[str]:
    """Declaration order where possible, inputs always first; a cycle is an error."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise GraphError(
                f"the graph has a cycle: {' -> '.join(cycle)}; a node cannot feed "
                "itself, directly or through others",
                node=name,
            )
        state[name] = 1
        for source in nodes[name].inputs:
            if source in nodes:
                visit(source, [*path, name])
        state[name] = 2
        order.append(name)

    for name in nodes:
        visit(name, [])
    return order


def _check_outputs(nodes: Mapping[str, Node], outputs: Sequence[str]) -> None:
    for name in outputs:
        if name not in nodes:
            raise GraphError(
                f"output {name!r} is not a node; nodes: {', '.join(nodes)}{suggest(name, nodes)}",
                node=name,
            )
    feeding = set(outputs)
    stack = list(outputs)
    while stack:
        for source in nodes[stack.pop()].inputs:
            if source in nodes and source not in feeding:
                feeding.add(source)
                stack.append(source)
    for name, node in nodes.items():
        if isinstance(node, RouteNode | SplitNode) and any(t in feeding for t in node.targets):
            feeding.add(name)
    unused = [name for name in nodes if name not in feeding]
    if unused:
        many = len(unused) > 1
        them = "them" if many else "it"
        raise GraphError(
            f"node{'s' if many else ''} {', '.join(map(repr, unused))} "
            f"feed{'' if many else 's'} no output (outputs: {', '.join(outputs)}); "
            f"remove {them} or add {them} to the outputs",
            node=unused[0],
        )


def _check_routes(nodes: Mapping[str, Node]) -> None:
    for name, node in nodes.items():
        if not isinstance(node, RouteNode | SplitNode):
            continue
        for target in node.targets:
            if target not in nodes:
                raise GraphError(
                    f"{'route' if isinstance(node, RouteNode) else 'split'} {name!r} sends to "
                    f"{target!r}, which is not a node{suggest(target, nodes)}",
                    node=name,
                )
            if name not in nodes[target].inputs:
                raise GraphError(
                    f"{name!r} sends elements to {target!r}, but {target!r} takes its input from "
                    f"{', '.join(map(repr, nodes[target].inputs))}; a target takes its input "
                    "from the route or split that sends to it",
                    node=target,
                )
        for other_name, other in nodes.items():
            if name in other.inputs and other_name not in node.targets:
                raise GraphError(
                    f"node {other_name!r} takes input from {name!r}, which never sends to it "
                    f"(its targets: {', '.join(node.targets)})",
                    node=other_name,
                )


def _ancestors(nodes: Mapping[str, Node], order: Sequence[str]) -> dict[str, set[str]]:
    ancestors: dict[str, set[str]] = {}
    for name in order:
        found: set[str] = set()
        for source in nodes[name].inputs:
            if source in nodes:
                found |= {source, *ancestors[source]}
        ancestors[name] = found
    return ancestors


def _check_conditions(
    nodes: Mapping[str, Node],
    ancestors: Mapping[str, set[str]],
    input_fields: Sequence[str] | None,
) -> None:
    for name, node in nodes.items():
        if not isinstance(node, RouteNode):
            continue
        upstream = ancestors[name]
        for condition, target in node.cases:
            for path in sorted(condition.fields()):
                root = root_of(path)
                if root in (INPUT, KEY) or root in upstream:
                    if root == INPUT and input_fields is not None and "." in path:
                        field = path.split(".")[1]
                        if field not in input_fields:
                            raise GraphError(
                                f"route {name!r}, case for {target!r}: the input has no field "
                                f"{field!r}; its fields are {list(input_fields)}"
                                f"{suggest(field, input_fields)}",
                                node=name,
                            )
                    continue
                where = "a node downstream" if root in nodes else "not a node"
                raise GraphError(
                    f"route {name!r}, case for {target!r}: the condition reads {path!r}, but "
                    f"{root!r} is {where}; a condition reads 'input', 'key' or a node upstream "
                    f"of the route ({', '.join(sorted(upstream)) or 'none'})"
                    f"{suggest(root, [INPUT, KEY, *upstream])}",
                    node=name,
                )


__all__ = ["compile_steps", "suggest"]
