"""Throughput of the onnx handler next to raw ONNX Runtime and Beam's own RunInference.

Model: a 32 -> 256 -> 256 -> 8 ReLU MLP; data: 200k rows of float32 (both sizes adjustable).
Every variant runs in this one process and run, with ONNX Runtime pinned to one intra-op thread
so the numbers compare. Run from the repository root::

    .venv/bin/python -m benchmarks.onnx_throughput [--rows 200000] [--batch 1024]

Beam variants read from a generator source (not ``beam.Create`` of a big list) and include the
pipeline's start-up, as a user would see it.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import onnxruntime as ort
from apache_beam.ml.inference.base import RunInference

import infergraph as ig
from tests.onnx_models import mlp

WIDTH = 32


def rows_of(chunk: int, rows_per_chunk: int) -> np.ndarray:
    rng = np.random.default_rng(chunk)
    return rng.standard_normal((rows_per_chunk, WIDTH), dtype=np.float32)


def raw_ort(path: Path, data: np.ndarray, batch: int) -> int:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    done = 0
    for start in range(0, len(data), batch):
        done += len(session.run(None, {"x": data[start : start + batch]})[0])
    return done


def in_process(handler: Any, elements: Iterator[Any], rows_per_element: int) -> int:
    done = 0
    for result in ig.predict(handler, elements):
        assert isinstance(result, ig.Prediction), result
        done += rows_per_element
    return done


def on_beam(transform: beam.PTransform, chunks: int, rows_per_chunk: int, blocks: bool) -> int:
    counted = beam.metrics.Metrics.counter("bench", "rows")

    def expand(chunk: int) -> Iterator[Any]:
        data = rows_of(chunk, rows_per_chunk)
        if blocks:
            yield ig.Block(data)
        else:
            yield from data

    def count(result: Any) -> None:
        output = getattr(result, "output", None)
        if output is None:
            output = result.inference
        counted.inc(len(output) if blocks else 1)

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


def timed(label: str, fn: Callable[[], int]) -> dict[str, Any]:
    start = time.perf_counter()
    rows = fn()
    seconds = time.perf_counter() - start
    return {"variant": label, "rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--block-rows", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    logging.getLogger("apache_beam").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp:
        path = mlp(Path(tmp) / "mlp.onnx")
        chunks = args.rows // args.block_rows
        data = np.concatenate([rows_of(c, args.block_rows) for c in range(chunks)])
        handler = ig.handler(
            "onnx",
            path=str(path),
            intra_op_threads=1,
            max_batch_size=args.batch,
            min_batch_size=args.batch,
            model_id="mlp",
        )
        beams_own = RunInference(_beam_onnx_handler(path, args.batch))
        results = [
            timed("raw onnxruntime", lambda: raw_ort(path, data, args.batch)),
            timed("infergraph in-process, per row", lambda: in_process(handler, iter(data), 1)),
            timed(
                "infergraph in-process, blocks",
                lambda: in_process(
                    handler,
                    (ig.Block(rows_of(c, args.block_rows)) for c in range(chunks)),
                    args.block_rows,
                ),
            ),
            timed(
                "infergraph Beam, per row",
                lambda: on_beam(ig.RunInference(handler), chunks, args.block_rows, blocks=False),
            ),
            timed(
                "infergraph Beam, blocks",
                lambda: on_beam(ig.RunInference(handler), chunks, args.block_rows, blocks=True),
            ),
            timed(
                "Beam RunInference (OnnxModelHandlerNumpy), per row",
                lambda: on_beam(beams_own, chunks, args.block_rows, blocks=False),
            ),
        ]
    raw = results[0]["rows_per_s"]
    beams = results[-1]["rows_per_s"]
    print(f"{'variant':<52} {'rows':>8} {'s':>7} {'rows/s':>10} {'/raw':>6} {'/Beam':>6}")
    for r in results:
        assert r["rows"] == args.rows, f"{r['variant']} processed {r['rows']} rows"
        r["vs_raw"], r["vs_beam"] = r["rows_per_s"] / raw, r["rows_per_s"] / beams
        print(
            f"{r['variant']:<52} {r['rows']:>8} {r['seconds']:>7.2f} {r['rows_per_s']:>10,.0f} "
            f"{r['vs_raw']:>6.2f} {r['vs_beam']:>6.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def _beam_onnx_handler(path: Path, batch: int) -> Any:
    from apache_beam.ml.inference.onnx_inference import OnnxModelHandlerNumpy

    class OneThread(OnnxModelHandlerNumpy):  # type: ignore[misc]
        """Beam's handler with the same thread count as ours (options built on the worker,
        since SessionOptions cannot be pickled)."""

        def load_model(self) -> Any:
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            return ort.InferenceSession(
                self._model_uri, options, providers=["CPUExecutionProvider"]
            )

    return OneThread(
        str(path), providers=["CPUExecutionProvider"], min_batch_size=batch, max_batch_size=batch
    )


if __name__ == "__main__":
    main()
