"""Throughput of the TensorFlow handler next to Beam's TFModelHandlerTensor and a raw call.

One run measures, on the same SavedModel (a 32 -> 256 -> 256 -> 8 MLP saved by tf-keras, so
Beam's handler can load it with ``tf.keras.models.load_model``):

- raw: the ``serving_default`` signature called directly in batches of ``--batch``;
- infergraph in-process, one ndarray per row, and with blocks of ``--block`` rows;
- infergraph on Beam (DirectRunner), one row per element and with blocks;
- Beam's own ``TFModelHandlerTensor`` (DirectRunner), one tensor per element.

Rows come from a generator source (``Create(range(chunks)) | FlatMap``), not ``Create(list)``.
TensorFlow is pinned to ``--threads`` intra-op threads.

Usage: python benchmarks/tensorflow_throughput.py [--rows 200000] [--batch 1024]
Needs ``pip install 'infergraph[tensorflow,bench]'`` (Beam's handler imports tensorflow_hub).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Beam's handler loads with tf.keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions

import infergraph as ig


def build_mlp(path: Path) -> Path:
    import tf_keras

    inputs = tf_keras.Input(shape=(32,), name="x")
    hidden = tf_keras.layers.Dense(256, activation="relu")(inputs)
    hidden = tf_keras.layers.Dense(256, activation="relu")(hidden)
    outputs = tf_keras.layers.Dense(8, name="y")(hidden)
    tf_keras.Model(inputs, outputs).save(str(path), save_format="tf")
    return path


def timed(label: str, rows: int, fn: Callable[[], int], table: list[tuple[str, float]]) -> None:
    start = time.perf_counter()
    produced = fn()
    seconds = time.perf_counter() - start
    if produced != rows:
        raise SystemExit(f"{label}: produced {produced} results for {rows} rows")
    table.append((label, rows / seconds))
    print(f"{label:<44} {rows / seconds:>12,.0f} rows/s  ({seconds:.2f} s)", flush=True)


def chunks(data: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def beam_count(make: Callable[[beam.PCollection], beam.PCollection], n_chunks: int) -> int:
    """Run a pipeline whose ``make`` yields the rows each output element holds; their sum."""
    with tempfile.TemporaryDirectory() as tmp:
        options = PipelineOptions(
            flags=[], direct_num_workers=1, direct_running_mode="in_memory"
        )
        with beam.Pipeline(runner="DirectRunner", options=options) as pipeline:
            _ = (
                make(pipeline | beam.Create(range(n_chunks)))
                | beam.CombineGlobally(sum)
                | beam.io.WriteToText(f"{tmp}/count", shard_name_template="")
            )
        return int(Path(f"{tmp}/count").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--block", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    chunk_rows = args.block
    n_chunks = -(-args.rows // chunk_rows)
    total = args.rows

    def chunk(i: int) -> np.ndarray:
        # Generated where it is used: a closure over one big array would be pickled into
        # every Beam transform that uses it.
        rows = min(chunk_rows, total - i * chunk_rows)
        return np.random.default_rng(i).standard_normal((rows, 32), dtype=np.float32)

    data = np.concatenate([chunk(i) for i in range(n_chunks)])

    table: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = build_mlp(Path(tmp) / "mlp")
        handler = ig.handler("tensorflow", path=str(path), max_batch_size=args.batch)
        print(f"{args.rows} rows, batch {args.batch}, block {args.block}, "
              f"{args.threads} TF threads, TF {tf.__version__}, Beam {beam.__version__}")

        signature = tf.saved_model.load(str(path)).signatures["serving_default"]
        input_name = next(iter(signature.structured_input_signature[1]))

        def raw() -> int:
            return sum(
                len(signature(**{input_name: tf.constant(c)})["y"].numpy())
                for c in chunks(data, args.batch)
            )

        timed("raw signature call", args.rows, raw, table)
        timed("infergraph in-process, per row", args.rows,
              lambda: sum(1 for _ in ig.predict(handler, iter(data))), table)
        timed(f"infergraph in-process, blocks of {args.block}", args.rows,
              lambda: sum(r.output.shape[0] for r in ig.predict(
                  handler, (ig.Block(c) for c in chunks(data, args.block)))), table)

        timed("infergraph Beam, per row", args.rows, lambda: beam_count(
            lambda p: p | beam.FlatMap(lambda i: iter(chunk(i)))
            | ig.RunInference(handler) | beam.Map(lambda r: 1), n_chunks), table)
        timed(f"infergraph Beam, blocks of {args.block}", args.rows, lambda: beam_count(
            lambda p: p | beam.Map(lambda i: ig.Block(chunk(i)))
            | ig.RunInference(handler)
            | beam.Map(lambda r: r.output.shape[0]), n_chunks), table)

        from apache_beam.ml.inference.base import RunInference
        from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor

        beam_handler = TFModelHandlerTensor(str(path), max_batch_size=args.batch)
        timed("Beam TFModelHandlerTensor, per row", args.rows, lambda: beam_count(
            lambda p: p | beam.FlatMap(lambda i: tf.unstack(tf.constant(chunk(i))))
            | RunInference(beam_handler) | beam.Map(lambda r: 1), n_chunks), table)

    raw_rate = table[0][1]
    print("\nrelative to the raw signature call:")
    for label, rate in table:
        print(f"  {label:<44} {rate / raw_rate:6.1%}")


if __name__ == "__main__":
    main()
