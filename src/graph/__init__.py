"""Graphs of handlers and functions: chain, branch, route, split and merge, with keys kept.

:class:`Graph` builds and checks a graph; ``graph.run(data)`` runs it in this process; on Beam,
``infergraph.RunGraph(graph)`` runs the same steps (:mod:`.stages`) with the same results.
"""

from __future__ import annotations

from .conditions import Condition, when
from .graph import Graph
from .load import load_graph
from .run import GraphStats
from .state import GraphResult, Lineage

__all__ = ["Condition", "Graph", "GraphResult", "GraphStats", "Lineage", "load_graph", "when"]
