"""Variants of the two-model chain: A (the MLP) then B (an 8 → 64 → 8 MLP) on A's output.

The raw variant calls A then B on each batch by hand; Beam's own chains two ``RunInference``
transforms (``OnnxModelHandlerNumpy``) per row; infergraph runs the graph ``A → B`` in this
process (``Graph.run``) and on Beam (``RunGraph``). With blocks, the graph is ``A → B`` where
graphs run blocks column by column; where a graph instead passes a block to a node as one
example (older versions), a function node between A and B passes A's output on as a block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apache_beam as beam
import numpy as np

import infergraph as ig
from benchmarks.beam_run import count_rows, one
from benchmarks.models import model_path
from benchmarks.onnx_variants import beam_onnx_handler, handler, session
from benchmarks.plan import BENCHES, Job

Run = Callable[[], int]


def as_block(output: Any) -> Any:
    """A's output for a block (its rows as one array) as B's input block."""
    return output if isinstance(output, ig.Block) else ig.Block(output)


def graph(job: Job, *, blocks: bool) -> ig.Graph:
    """The graph ``A → B`` (``A → as_block → B`` for blocks where graphs need it)."""
    chain = _graph(job, adapter=False)
    if blocks and not _runs_blocks(chain):
        return _graph(job, adapter=True)
    return chain


def graph_rows(result: Any) -> int:
    """The rows of a graph result that reached B (a block's rows, or 1); raises if any failed.

    Called once per result: type checks and a lookup, as cheap as a checked count can be.
    """
    if type(result) is ig.GraphResult:
        if result.failures or "b" not in result.values:
            raise RuntimeError(f"the chain failed: {result.failures}")
        return len(result.values["b"]) if type(result.example) is ig.Block else 1
    statuses = result.status_counts()  # a block's result, column by column
    if set(statuses) != {"ok"}:
        raise RuntimeError(f"the chain did not finish every row of a block: {statuses}")
    return int(statuses["ok"])


def raw(job: Job) -> Run:
    rows = job.bench.rows(job.rows)
    rows.warm()
    a_path, b_path = model_path(job.models_dir, "mlp"), model_path(job.models_dir, "chain_b")
    batch = job.bench.batch

    def run() -> int:
        first, second = session(a_path), session(b_path)
        done = 0
        for array in rows.arrays():
            for start in range(0, len(array), batch):
                hidden = first.run(None, {"x": array[start : start + batch]})[0]
                done += len(second.run(None, {"x": hidden})[0])
        return done

    return run


class BeamChain(beam.PTransform):  # type: ignore[type-arg]
    """Beam's ``RunInference(A)``, A's output as B's input, ``RunInference(B)``."""

    def __init__(self, a: Any, b: Any) -> None:
        super().__init__()
        self.a, self.b = a, b

    def expand(self, pcoll: Any) -> Any:
        from apache_beam.ml.inference.base import RunInference

        return (
            pcoll
            | "A" >> RunInference(self.a)
            | "Output" >> beam.Map(_inference)
            | "B" >> RunInference(self.b)
        )


def _inference(result: Any) -> Any:
    return result.inference


def beam_chain(job: Job) -> Run:
    rows = job.bench.rows(job.rows)
    rows.warm()
    batch = job.bench.batch
    a = beam_onnx_handler(model_path(job.models_dir, "mlp"), batch)
    b = beam_onnx_handler(model_path(job.models_dir, "chain_b"), batch)
    return lambda: count_rows(rows, BeamChain(a, b), one, blocks=False)


def ig_rows(job: Job) -> Run:
    return _in_process(job, blocks=False)


def ig_blocks(job: Job) -> Run:
    return _in_process(job, blocks=True)


def ig_beam_rows(job: Job) -> Run:
    return _on_beam(job, blocks=False)


def ig_beam_blocks(job: Job) -> Run:
    return _on_beam(job, blocks=True)


PREPARE = {
    "raw": raw,
    "beam": beam_chain,
    "ig-rows": ig_rows,
    "ig-blocks": ig_blocks,
    "ig-beam-rows": ig_beam_rows,
    "ig-beam-blocks": ig_beam_blocks,
}


def _graph(job: Job, *, adapter: bool) -> ig.Graph:
    chain = ig.Graph("chain")
    chain.model("a", handler(job, "mlp", "a"))
    chain.model("b", handler(job, "chain_b", "b"))
    if adapter:
        chain.chain("a", as_block, "b")
    else:
        chain.chain("a", "b")
    return chain


def _runs_blocks(chain: ig.Graph) -> bool:
    """Whether ``chain`` runs a block as is (a two-row probe, before the clock starts)."""
    probe = ig.Block(np.zeros((2, *BENCHES["chain"].shape), dtype=np.float32))
    try:
        return [graph_rows(result) for result in chain.run([probe])] == [2]
    except RuntimeError:
        return False


def _in_process(job: Job, *, blocks: bool) -> Run:
    rows = job.bench.rows(job.rows)
    rows.warm()
    chain = graph(job, blocks=blocks)

    def run() -> int:
        elements = (ig.Block(a) for a in rows.arrays()) if blocks else rows.each_row()
        return sum(graph_rows(result) for result in chain.run(elements))

    return run


def _on_beam(job: Job, *, blocks: bool) -> Run:
    rows = job.bench.rows(job.rows)
    rows.warm()
    chain = graph(job, blocks=blocks)
    return lambda: count_rows(rows, ig.RunGraph(chain), graph_rows, blocks=blocks)
