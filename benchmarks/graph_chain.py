"""Throughput of a two-model chain as a graph, next to the same two models run one after the other.

Models: A, the 32 -> 256 -> 256 -> 8 ReLU MLP, then B, an 8 -> 64 -> 8 MLP on A's output. Every
variant runs in this one process, with ONNX Runtime pinned to one intra-op thread, on the same
generated rows (made before the timed part, or on the workers from a seed for Beam). Run from
the repository root::

    .venv/bin/python -m benchmarks.graph_chain [--rows 200000] [--batch 1024]

Variants: raw ONNX Runtime (A then B on each batch, by hand); in this process, ``ig.predict`` of
A then of B on A's outputs (by hand) and the graph ``A -> B``; on Beam (DirectRunner, start-up
included), ``RunInference(A) | RunInference(B)`` chained by hand and ``RunGraph(A -> B)``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import onnxruntime as ort

import infergraph as ig
from benchmarks.onnx_throughput import rows_of, timed
from tests.onnx_models import mlp


def session(path: Path) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def raw_chain(a: Path, b: Path, data: np.ndarray, batch: int) -> int:
    first, second = session(a), session(b)
    done = 0
    for start in range(0, len(data), batch):
        hidden = first.run(None, {"x": data[start : start + batch]})[0]
        done += len(second.run(None, {"x": hidden})[0])
    return done


def by_hand_in_process(a: Any, b: Any, data: np.ndarray) -> int:
    firsts = [(r.key, r.output) for r in ig.predict(a, enumerate(data))]
    return sum(isinstance(r, ig.Prediction) for r in ig.predict(b, firsts))


def graph_in_process(graph: ig.Graph, data: np.ndarray) -> int:
    return sum(r.status == "ok" for r in graph.run(enumerate(data)))


def graph_blocks(graph: ig.Graph, chunks: int, rows_per_chunk: int) -> int:
    blocks = (block_of(c, rows_per_chunk) for c in range(chunks))
    return sum(int((r.statuses() == 0).sum()) for r in graph.run(blocks))


def block_of(chunk: int, rows: int) -> ig.Block:
    keys = np.arange(chunk * rows, (chunk + 1) * rows)
    return ig.Block(rows_of(chunk, rows), keys=keys)


def on_beam(transform: Any, chunks: int, rows_per_chunk: int, blocks: bool = False) -> int:
    counted = beam.metrics.Metrics.counter("bench", "rows")

    def expand(chunk: int) -> Iterator[Any]:
        if blocks:
            yield block_of(chunk, rows_per_chunk)
            return
        data = rows_of(chunk, rows_per_chunk)
        for i, row in enumerate(data):
            yield (chunk * rows_per_chunk + i, row)

    def count(result: Any) -> None:
        counted.inc(int((result.statuses() == 0).sum()) if blocks else 1)

    pipeline = beam.Pipeline(runner="DirectRunner")
    _ = (
        pipeline
        | beam.Create(list(range(chunks)))
        | beam.FlatMap(expand)
        | transform
        | beam.Map(count)
    )
    result = pipeline.run()
    result.wait_until_finish()
    query = result.metrics().query(beam.metrics.MetricsFilter().with_name("rows"))
    return int(sum(c.committed for c in query["counters"]))


class ByHand(beam.PTransform):  # type: ignore[type-arg]
    """``RunInference(A)``, A's output as B's keyed input, ``RunInference(B)``."""

    def __init__(self, a: Any, b: Any) -> None:
        super().__init__()
        self.a, self.b = a, b

    def expand(self, pcoll: Any) -> Any:
        return (
            pcoll
            | "A" >> ig.RunInference(self.a)
            | "AsInput" >> beam.Map(lambda p: (p.key, p.output))
            | "B" >> ig.RunInference(self.b)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    logging.getLogger("apache_beam").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp:
        a_path = mlp(Path(tmp) / "a.onnx")
        b_path = mlp(Path(tmp) / "b.onnx", sizes=(8, 64, 8), seed=1)
        chunks = args.rows // args.chunk_rows
        data = np.concatenate([rows_of(c, args.chunk_rows) for c in range(chunks)])

        def handler(path: Path, model_id: str) -> Any:
            return ig.handler(
                "onnx",
                path=str(path),
                intra_op_threads=1,
                max_batch_size=args.batch,
                min_batch_size=args.batch,
                model_id=model_id,
            )

        a, b = handler(a_path, "a"), handler(b_path, "b")
        graph = ig.Graph("chain")
        graph.model("a", a)
        graph.model("b", b)
        graph.chain("a", "b")
        results = [
            timed(
                "raw onnxruntime, A then B by hand",
                lambda: raw_chain(a_path, b_path, data, args.batch),
            ),
            timed(
                "in-process, ig.predict A then B by hand", lambda: by_hand_in_process(a, b, data)
            ),
            timed("in-process, graph A -> B", lambda: graph_in_process(graph, data)),
            timed(
                "Beam, RunInference A | RunInference B",
                lambda: on_beam(ByHand(a, b), chunks, args.chunk_rows),
            ),
            timed(
                "Beam, RunGraph(A -> B)",
                lambda: on_beam(ig.RunGraph(graph), chunks, args.chunk_rows),
            ),
            timed(
                "in-process, graph A -> B, blocks",
                lambda: graph_blocks(graph, chunks, args.chunk_rows),
            ),
            timed(
                "Beam, RunGraph(A -> B), blocks",
                lambda: on_beam(ig.RunGraph(graph), chunks, args.chunk_rows, blocks=True),
            ),
        ]
    raw = results[0]["rows_per_s"]
    print(f"{'variant':<44} {'rows':>8} {'s':>7} {'rows/s':>10} {'/raw':>6}")
    for r in results:
        assert r["rows"] == args.rows, f"{r['variant']} processed {r['rows']} rows"
        r["vs_raw"] = r["rows_per_s"] / raw
        print(
            f"{r['variant']:<44} {r['rows']:>8} {r['seconds']:>7.2f} {r['rows_per_s']:>10,.0f} "
            f"{r['vs_raw']:>6.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
