"""Variants of the ONNX models (the MLP and the convolutional model).

ONNX Runtime runs with one intra-op thread everywhere, Beam's own handler included (two threads
on two cores are noisy), on batches of the model's ``batch`` rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import onnxruntime as ort

import infergraph as ig
from benchmarks.beam_run import TWO_PROCESSES, count_rows, one, prediction_rows
from benchmarks.ig_variants import variants, warm_rows
from benchmarks.models import model_path
from benchmarks.plan import Job

Run = Callable[[], int]


def session(path: str) -> Any:
    """An ONNX Runtime session with one intra-op thread, on the CPU."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def handler(job: Job, name: str | None = None, model_id: str | None = None) -> Any:
    """The ``onnx`` handler of the job's model with the benchmark's batch and one thread."""
    batch = job.bench.batch
    return ig.handler(
        "onnx",
        path=model_path(job.models_dir, name or job.model),
        intra_op_threads=1,
        max_batch_size=batch,
        min_batch_size=batch,
        model_id=model_id or job.model,
    )


def beam_onnx_handler(path: str, batch: int) -> Any:
    """Beam's ``OnnxModelHandlerNumpy`` with one intra-op thread (the options are built on the
    worker: ``SessionOptions`` cannot be pickled)."""
    from apache_beam.ml.inference.onnx_inference import OnnxModelHandlerNumpy

    class OneThread(OnnxModelHandlerNumpy):  # type: ignore[misc]
        def load_model(self) -> Any:
            return session(self._model_uri)

    return OneThread(
        path, providers=["CPUExecutionProvider"], min_batch_size=batch, max_batch_size=batch
    )


def raw(job: Job) -> Run:
    rows = warm_rows(job)
    path, batch = model_path(job.models_dir, job.model), job.bench.batch

    def run() -> int:
        model = session(path)
        done = 0
        for array in rows.arrays():
            for start in range(0, len(array), batch):
                done += len(model.run(None, {"x": array[start : start + batch]})[0])
        return done

    return run


def beam(job: Job) -> Run:
    from apache_beam.ml.inference.base import RunInference

    rows = warm_rows(job)
    own = beam_onnx_handler(model_path(job.models_dir, job.model), job.bench.batch)
    return lambda: count_rows(rows, RunInference(own), one, blocks=False)


def ig_beam_blocks_2p(job: Job) -> Run:
    rows, model = warm_rows(job), handler(job)
    return lambda: count_rows(
        rows, ig.RunInference(model), prediction_rows, blocks=True, options=TWO_PROCESSES
    )


def ig_run_parquet(job: Job) -> Run:
    from benchmarks.file_run import parquet_run

    return parquet_run(job, warm_rows(job))


PREPARE = {
    "raw": raw,
    "beam": beam,
    **variants(handler),
    "ig-beam-blocks-2p": ig_beam_blocks_2p,
    "ig-run-parquet": ig_run_parquet,
}
"""Variant id -> a function preparing the job (outside the timed part) and returning its run."""
