"""The v2 model metadata of a graph: inputs and outputs with datatype and shape.

Inputs are those of the models that read the graph's input; outputs those of the output nodes
that are models. A model that states its tensors (an ONNX Runtime session does) gives their
datatypes and shapes (``-1`` for a free dimension); other nodes are described as ``BYTES`` of
shape ``[-1]``, which says only that their rows come batched.
"""

from __future__ import annotations

from typing import Any

from ..graph.graph import Graph
from ..graph.nodes import ModelNode
from ..graph.run import GraphRunner
from ..graph.state import INPUT

_ONNX_TYPES = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}
_UNKNOWN = {"datatype": "BYTES", "shape": [-1]}


def describe(graph: Graph, runner: GraphRunner | None) -> dict[str, list[dict[str, Any]]]:
    """``{"inputs": [...], "outputs": [...]}`` of the graph, from its loaded models."""
    inputs: dict[str, dict[str, Any]] = {}
    for name, node in graph.nodes.items():
        if isinstance(node, ModelNode) and node.input in (None, INPUT):
            for tensor in _tensors(runner, name, "get_inputs"):
                inputs.setdefault(tensor["name"], tensor)
    if not inputs:
        inputs["input"] = {"name": "input", **_UNKNOWN}
    outputs = []
    for name in graph.output_names:
        found = _tensors(runner, name, "get_outputs") if name in graph.nodes else []
        if len(found) == 1:
            outputs.append({**found[0], "name": name})
        elif found:
            prefix = "" if len(graph.output_names) == 1 else f"{name}."
            outputs += [{**t, "name": prefix + t["name"]} for t in found]
        else:
            outputs.append({"name": name, **_UNKNOWN})
    return {"inputs": list(inputs.values()), "outputs": outputs}


def _tensors(runner: GraphRunner | None, node: str, which: str) -> list[dict[str, Any]]:
    if runner is None or node not in runner.runners:
        return []
    session = getattr(runner.runners[node].model, "session", None)
    if session is None or not hasattr(session, which):
        return []
    chosen = getattr(runner.runners[node].model, "outputs", None)
    tensors = []
    for arg in getattr(session, which)():
        if which == "get_outputs" and isinstance(chosen, list) and arg.name not in chosen:
            continue
        shape = [d if isinstance(d, int) and d > 0 else -1 for d in (arg.shape or [])]
        datatype = _ONNX_TYPES.get(str(arg.type), "BYTES")
        tensors.append({"name": arg.name, "datatype": datatype, "shape": shape})
    return tensors
