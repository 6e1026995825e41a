"""Pictures of a graph: a Mermaid flowchart (GitHub, GitLab and many doc tools draw it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .nodes import FunctionNode, MergeNode, ModelNode, Node, RouteNode, SplitNode
from .state import INPUT, KEY


def mermaid(nodes: Mapping[str, Node], output_names: Sequence[str]) -> str:
    """A ``flowchart LR`` of a graph's nodes, edges, route conditions and split weights."""
    lines = ["flowchart LR", f"    {INPUT}([input])"]
    outputs = set(output_names)
    for name, node in nodes.items():
        lines.append(f"    {_id(name)}{_shape(node, name in outputs)}")
    for name, node in nodes.items():
        for source, label in _edges(nodes, name, node):
            arrow = f"-- {label} -->" if label else "-->"
            lines.append(f"    {_id(source)} {arrow} {_id(name)}")
    return "\n".join(lines) + "\n"


def _id(name: str) -> str:
    return name.replace("-", "_")


def _shape(node: Node, is_output: bool) -> str:
    if isinstance(node, ModelNode):
        text = f"{node.name}<br/>{node.handler.name or type(node.handler).__name__}"
        return f"[[{_quote(text)}]]" if not is_output else f"[[{_quote(text + ' ⇒')}]]"
    if isinstance(node, RouteNode):
        return f"{{{_quote(node.name + ' (route)')}}}"
    if isinstance(node, SplitNode):
        return f"{{{_quote(node.name + ' (split)')}}}"
    if isinstance(node, MergeNode):
        return f"(({_quote(node.name)}))"
    assert isinstance(node, FunctionNode)
    text = f"{node.name}<br/>{node.ref.rpartition(':')[2]}()"
    return f"[/{_quote(text + (' ⇒' if is_output else ''))}/]"


def _edges(nodes: Mapping[str, Node], name: str, node: Node) -> list[tuple[str, str]]:
    edges = []
    for source in node.inputs:
        if source == KEY:
            continue
        label = ""
        parent = nodes.get(source)
        if isinstance(parent, RouteNode):
            conditions = [c for c, target in parent.cases if target == name]
            label = " or ".join(c.describe() for c in conditions)
            if parent.default == name:
                label = f"{label} / default" if label else "default"
            label = _quote(label)
        elif isinstance(parent, SplitNode):
            total = sum(w for _, w in parent.arms)
            weight = dict(parent.arms)[name]
            label = _quote(f"{weight / total:.0%}")
        edges.append((source, label))
    return edges


def _quote(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'
