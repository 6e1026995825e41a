"""Variants of the TensorFlow twin of the MLP (a ``tf.Module`` SavedModel, same weights).

TensorFlow runs with one intra-op and one inter-op thread in every variant (set before it
initializes, so Beam's handler gets them too). Beam's ``TFModelHandlerTensor`` loads the model
with ``tf.keras.models.load_model``, which needs ``TF_USE_LEGACY_KERAS=1`` with tf-keras
installed, and imports ``tensorflow_hub`` (the ``bench`` extra).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # Beam's handler loads with tf.keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import apache_beam as beam
import tensorflow as tf

import infergraph as ig
from benchmarks.beam_run import count_rows, one
from benchmarks.ig_variants import variants, warm_rows
from benchmarks.models import model_path
from benchmarks.plan import Job

Run = Callable[[], int]
THREADS = 1

tf.config.threading.set_intra_op_parallelism_threads(THREADS)
tf.config.threading.set_inter_op_parallelism_threads(THREADS)


def handler(job: Job) -> Any:
    """The ``tensorflow`` handler with the benchmark's batch and thread counts."""
    batch = job.bench.batch
    return ig.handler(
        "tensorflow",
        path=model_path(job.models_dir, "tf_mlp"),
        max_batch_size=batch,
        min_batch_size=batch,
        intra_op_threads=THREADS,
        inter_op_threads=THREADS,
        model_id="tf",
    )


def raw(job: Job) -> Run:
    rows, batch = warm_rows(job), job.bench.batch
    path = model_path(job.models_dir, "tf_mlp")

    def run() -> int:
        signature = tf.saved_model.load(path).signatures["serving_default"]
        done = 0
        for array in rows.arrays():
            for start in range(0, len(array), batch):
                output = signature(x=tf.constant(array[start : start + batch]))["y"]
                done += len(output.numpy())
        return done

    return run


def unstack(block: ig.Block) -> Iterator[Any]:
    """A block's rows as tensors, one per element (what ``TFModelHandlerTensor`` takes)."""
    return iter(tf.unstack(tf.constant(block.data)))


def beam_tf(job: Job) -> Run:
    from benchmarks.plan import NotAvailable

    try:
        from apache_beam.ml.inference.base import RunInference
        from apache_beam.ml.inference.tensorflow_inference import TFModelHandlerTensor
    except ImportError as exc:
        raise NotAvailable(
            f"Beam's TensorFlow handler cannot be imported ({exc}); "
            "pip install 'infergraph[bench]'"
        ) from exc
    rows, batch = warm_rows(job), job.bench.batch
    own = TFModelHandlerTensor(
        model_path(job.models_dir, "tf_mlp"), min_batch_size=batch, max_batch_size=batch
    )
    transform = beam.FlatMap(unstack) | RunInference(own)
    return lambda: count_rows(rows, transform, one, blocks=True)


PREPARE = {
    "raw": raw,
    "beam": beam_tf,
    **variants(handler),
}
