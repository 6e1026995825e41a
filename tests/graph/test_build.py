"""The builder checks each node as it is added, and the whole graph before any data moves."""

from __future__ import annotations

from pathlib import Path

import pytest

import infergraph as ig
from infergraph import ConfigError, GraphError, HandlerNotFoundError
from infergraph.graph.nodes import FunctionNode
from tests.core.handlers import ScaleHandler


def scale(factor: float = 2.0) -> ScaleHandler:
    return ScaleHandler(factor=factor)


def test_unknown_handler_lists_the_registered_ones() -> None:
    g = ig.Graph()
    with pytest.raises(HandlerNotFoundError, match=r"no handler named 'onx'.*onnx.*Did you mean"):
        g.model("five", "onx", path="m.onnx")


def test_bad_config_names_the_node_and_the_field(five_onnx: Path) -> None:
    g = ig.Graph()
    expected = r"node 'five': invalid config for handler 'onnx': .*pathh: unknown field"
    with pytest.raises(ConfigError, match=expected):
        g.model("five", "onnx", pathh=str(five_onnx))
    with pytest.raises(ConfigError, match=r"node 'five'.*max_batch_size"):
        g.model("five", "onnx", path=str(five_onnx), max_batch_size=0)


def test_model_id_defaults_to_the_node_name(five_onnx: Path) -> None:
    g = ig.Graph()
    g.model("five", "onnx", path=str(five_onnx))
    assert g.handlers()["five"].model_id == "five"


def test_names_are_checked() -> None:
    g = ig.Graph()
    g.model("a", scale())
    with pytest.raises(GraphError, match="already a node named 'a'"):
        g.model("a", scale())
    with pytest.raises(GraphError, match="'input' is reserved"):
        g.model("input", scale())
    with pytest.raises(GraphError, match="not valid"):
        g.model("a b", scale())


def test_function_arity_is_checked_when_added() -> None:
    g = ig.Graph()

    def one(x: float) -> float:
        return x

    with pytest.raises(ConfigError, match=r"node 'f'.*cannot take 2 positional arguments"):
        g.function("f", one, inputs=["input", "key"])
    g.function("g", lambda a, b: (a, b), inputs=["input", "key"])


def test_function_references_must_import() -> None:
    g = ig.Graph()
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module'"):
        g.function("f", "no_such_module:fn", inputs="input")
    with pytest.raises(ConfigError, match="has no 'nope'"):
        g.function("f", "json:nope", inputs="input")
    with pytest.raises(ConfigError, match="must be written 'module:function'"):
        g.function("f", "json.dumps", inputs="input")
    g.function("f", "json:dumps", inputs="input")


def test_unconnected_node() -> None:
    g = ig.Graph()
    g.model("five", scale(5))
    g.model("ten", scale(10))
    g.chain("five")
    with pytest.raises(GraphError, match="node 'ten' takes no input") as info:
        g.validate()
    assert info.value.node == "ten"


def test_inputs_must_be_nodes_with_a_suggestion() -> None:
    g = ig.Graph()
    g.model("five", scale(5))
    with pytest.raises(GraphError, match=r"input 'fiv' is not a node.*Did you mean 'five'"):
        g.model("ten", scale(10), input="fiv")


def test_cycle_is_reported_with_its_path() -> None:
    nodes = [
        FunctionNode.of("a", lambda x: x, ["c"]),
        FunctionNode.of("b", lambda x: x, ["a"]),
        FunctionNode.of("c", lambda x: x, ["b"]),
        FunctionNode.of("out", lambda x: x, ["input"]),
    ]
    g = ig.Graph.from_nodes(nodes)
    with pytest.raises(GraphError, match=r"cycle: a -> c -> b -> a"):
        g.validate()


def test_unused_nodes_with_explicit_outputs() -> None:
    g = ig.Graph()
    g.model("five", scale(5))
    g.model("ten", scale(10))
    g.branch("five", "ten")
    g.outputs("five")
    with pytest.raises(GraphError, match="node 'ten' feeds no output"):
        g.validate()


def test_rewiring_a_connected_node_is_refused() -> None:
    g = ig.Graph()
    g.model("five", scale(5))
    g.model("ten", scale(10))
    g.chain("five", "ten")
    with pytest.raises(GraphError, match="'ten' already takes input from five"):
        g.chain("five", "ten")


def test_route_conditions_must_read_upstream_fields() -> None:
    g = ig.Graph()
    g.model("big", scale(1))
    g.model("small", scale(1))
    g.route("by_size", [(ig.when("ten", "gt", 5), "big")], default="small")
    g.chain("by_size")
    with pytest.raises(GraphError, match=r"reads 'ten', but 'ten' is not a node"):
        g.validate()


def test_route_conditions_on_downstream_nodes_are_refused() -> None:
    g = ig.Graph()
    g.model("big", scale(1))
    g.model("small", scale(1))
    g.route("r", [(ig.when("big", "gt", 5), "big")], default="small")
    g.chain("r")
    with pytest.raises(GraphError, match="'big' is a node downstream"):
        g.validate()


def test_route_conditions_on_declared_input_fields() -> None:
    g = ig.Graph(input_fields=["x", "tag"])
    g.model("big", scale(1))
    g.model("small", scale(1))
    g.route("r", [(ig.when("input.xx", "gt", 5), "big")], default="small")
    g.chain("r")
    with pytest.raises(GraphError, match=r"the input has no field 'xx'.*Did you mean 'x'"):
        g.validate()


def test_route_targets_must_exist_and_be_free() -> None:
    g = ig.Graph()
    g.model("big", scale(1))
    with pytest.raises(GraphError, match="'r' sends to 'small', which is not a node yet"):
        g.route("r", [(ig.when("input", "gt", 5), "big")], default="small")


def test_a_split_needs_positive_weights() -> None:
    g = ig.Graph()
    g.model("a", scale(1))
    for weight in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="weights must be finite and > 0"):
            g.split("ab", {"a": weight})


def test_mermaid_picture_names_every_node_and_edge() -> None:
    g = ig.Graph()
    g.model("big", scale(1))
    g.model("small", scale(1))
    g.route("by_size", [(ig.when("input", "gt", 500), "big")], default="small")
    g.chain("by_size")
    g.merge("prediction", "big", "small")
    picture = g.to_mermaid()
    assert picture.startswith("flowchart LR\n")
    assert '    input -- "input gt 500" --> big' not in picture
    assert '    by_size -- "input gt 500" --> big' in picture
    assert '    by_size -- "default" --> small' in picture
    assert "    input --> by_size" in picture
    assert "    big --> prediction" in picture
