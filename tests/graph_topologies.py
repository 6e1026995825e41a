"""Graphs of every topology over real handlers, shared by the in-process and Beam tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import infergraph as ig
from tests.core.handlers import ScaleHandler


def to_x(y: Any) -> np.ndarray:
    """A model output as the next ONNX model's input row."""
    return np.asarray(y, dtype=np.float32).reshape(1)


def describe(example: Any, y: Any) -> str:
    return f"input is {np.asarray(example, dtype=np.float32)} output is {y}"


@dataclass
class Case:
    name: str
    graph: ig.Graph
    data: list[Any]


def keyed(values: list[float]) -> list[tuple[str, list[float]]]:
    return [(f"k{i}", [v]) for i, v in enumerate(values)]


VALUES = [105.0, 108.0, 1000.0, 1013.0, 7.0, 600.0]


def chain(five: Path, ten: Path) -> Case:
    g = ig.Graph("chain")
    g.model("five", "onnx", path=str(five))
    g.model("ten", "onnx", path=str(ten))
    g.chain("five", to_x, "ten")
    return Case("chain", g, [*keyed(VALUES), ("bad", "not a number")])


def branch(five: Path, ten: Path) -> Case:
    """Two arms; the ``ten`` arm refuses 600 (the model raises), the ``five`` arm does not."""
    g = ig.Graph("branch")
    g.model("five", "onnx", path=str(five))
    g.model("ten", ScaleHandler(factor=10.0, reject=600.0, model_id="ten"))
    g.branch("five", "ten")
    return Case("branch", g, keyed(VALUES))


def route(five: Path, ten: Path) -> Case:
    """Big values to ``ten``, small ones (< 100) nowhere: skipped."""
    g = ig.Graph("route")
    g.model("five", "onnx", path=str(five))
    g.model("ten", "onnx", path=str(ten))
    g.route(
        "by_size",
        [(ig.when("input", "ge", 1000), "ten"), (ig.when("input", "ge", 100), "five")],
    )
    g.chain("by_size")
    return Case("route", g, keyed(VALUES))


def route_merge(five: Path, ten: Path) -> Case:
    """A route with a default, both arms joined by a merge and post-processed."""
    g = ig.Graph("route_merge")
    g.model("five", "onnx", path=str(five))
    g.model("ten", "onnx", path=str(ten))
    g.route("by_size", [(ig.when("input.0", "gt", 500), "ten")], default="five")
    g.chain("by_size")
    g.merge("prediction", "five", "ten")
    g.function("text", describe, inputs=["input", "prediction"])
    return Case("route_merge", g, keyed(VALUES))


def split(five: Path, ten: Path) -> Case:
    g = ig.Graph("split")
    g.model("five", "onnx", path=str(five))
    g.model("ten", "onnx", path=str(ten))
    g.split("ab", {"five": 0.5, "ten": 0.5})
    g.chain("ab")
    data: list[Any] = [(f"user-{i}", [float(i)]) for i in range(40)]
    return Case("split", g, [*data, [3.0]])  # the last one has no key: a split failure


def mixed_plugin(five: Path, ten: Path) -> Case:
    """A built-in handler chained into the test plugin package's handler (``scale``)."""
    g = ig.Graph("mixed")
    g.model("five", "onnx", path=str(five))
    g.model("double", "scale", factor=2.0)
    g.chain("five", "double")
    return Case("mixed", g, keyed(VALUES))


ALL: list[Callable[[Path, Path], Case]] = [chain, branch, route, route_merge, split, mixed_plugin]
