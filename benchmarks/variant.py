"""Run one job (one variant of one model on some rows) in this process and write its record.

``python -m benchmarks.variant --model mlp --variant ig-blocks --rows 200000 --repeats 1
--models-dir DIR --work-dir DIR --out record.json``: the suite starts one such process per job
and round, so no variant inherits another's memory, imports or loaded models. Preparing the
job (building handlers, rows, files) happens before the timed part; each repeat is then a
complete run, the model's loading (and a Beam pipeline's start-up) included. The record holds
the median time and this process's peak resident memory (``ru_maxrss`` of ``RUSAGE_SELF``) and
that of its largest child process (``RUSAGE_CHILDREN``: Beam's worker processes).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.plan import Job, NotAvailable


def run_job(job: Job) -> dict[str, Any]:
    """Prepare and time ``job``; its record (without the suite's ratios)."""
    family = importlib.import_module(f"benchmarks.{job.bench.family}")
    prepare = family.PREPARE[job.variant]
    try:
        run = prepare(job)
    except NotAvailable as exc:
        return {"status": "skipped", "note": f"not available: {exc}"}
    seconds = []
    for _ in range(job.repeats):
        start = time.perf_counter()
        done = run()
        seconds.append(time.perf_counter() - start)
        if callable(done):  # rows counted after the clock stops (e.g. lines of an output file)
            done = done()
        if done != job.rows:
            raise SystemExit(
                f"{job.model}/{job.variant}: {done} rows came out of {job.rows}; every row "
                "must end as exactly one prediction"
            )
    median = statistics.median(seconds)
    return {
        "status": "ok",
        "seconds": median,
        "seconds_all": seconds,
        "rows_per_s": job.rows / median,
    }


def peak_rss_mb() -> dict[str, float]:
    """This process's peak RSS and its largest finished child's, in MiB."""
    unit = 1 if sys.platform == "darwin" else 1024  # bytes per ru_maxrss unit

    def mib(usage: int) -> float:
        return round(usage * unit / 2**20, 1)

    return {
        "driver_peak_rss_mb": mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "worker_peak_rss_mb": mib(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--work-dir", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    job = Job(args.model, args.variant, args.rows, args.repeats, args.models_dir, args.work_dir)
    record = run_job(job)
    record.update(peak_rss_mb())
    args.out.write_text(json.dumps(record))


if __name__ == "__main__":
    main()
