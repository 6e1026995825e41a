"""Where the time on Beam goes: the raw model, an empty Beam pipeline, and infergraph.

``python -m benchmarks.overhead [--rows 2000000 10000000] [--repeats 3]`` times blocks, and
``python -m benchmarks.overhead --per-row [--rows 200000]`` one row per element (with Beam's own
ONNX handler beside them), in rounds and in one process, on the MLP and the suite's data:

- **raw**: ONNX Runtime called by hand (the suite's ``raw`` variant, the session's load included);
- **empty pipeline**: the suite's Beam pipeline with an identity step instead of the model
  (``Create(range(chunks)) | FlatMap(make_rows) | Map(identity) | Count``): Beam's own cost of
  starting a pipeline and moving the same blocks through it;
- **infergraph on Beam**: the suite's ``ig-beam-blocks`` variant.

It prints the medians, infergraph's ratio to raw, and the ratio an infergraph that cost nothing
beyond the model would reach on Beam (``raw / (raw + empty pipeline)``): the gap between the two
is infergraph's own work, the rest is Beam's. Per row, it prints infergraph's and that bound's
ratio to Beam's own handler instead (``Beam / (raw + empty pipeline)``: the model and Beam's
per-element work one after the other, which overlapping them can beat). The first pipeline of
a process costs more (imports and caches Beam fills once; the suite pays it in every sample,
each a fresh process): it is timed once, before the rounds, and printed apart.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import apache_beam as beam

from benchmarks import onnx_variants
from benchmarks.beam_run import count_rows
from benchmarks.data import Rows
from benchmarks.ig_variants import warm_rows
from benchmarks.models import build_onnx
from benchmarks.plan import Job


def _timings(runs: dict[str, Callable[[], int]], repeats: int, rows: int) -> dict[str, float]:
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            done = run()
            seconds[name].append(time.perf_counter() - start)
            if done != rows:
                raise SystemExit(f"{name}: {done} rows came out of {rows}")
    return {name: statistics.median(values) for name, values in seconds.items()}


def _empty(data: Rows) -> int:
    return count_rows(data, beam.Map(lambda block: block), lambda block: block.rows, blocks=True)


def _empty_rows(data: Rows) -> int:
    return count_rows(data, beam.Map(lambda row: row), lambda row: 1, blocks=False)


def _per_row(rows_counts: list[int], repeats: int, tmp: str) -> None:
    print("| rows | raw (s) | empty pipeline (s) | Beam's own (s) | infergraph on Beam (s) "
          "| vs Beam | bound vs Beam |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rows in rows_counts:
        job = Job("mlp", "ig-beam-rows", rows, repeats, tmp, tmp)
        data = warm_rows(job)
        runs: dict[str, Callable[[], int]] = {
            "raw": onnx_variants.raw(job),
            "empty": partial(_empty_rows, data),
            "beam": onnx_variants.beam(job),
            "infergraph": onnx_variants.PREPARE["ig-beam-rows"](job),
        }
        t = _timings(runs, repeats, rows)
        print(
            f"| {rows:,} | {t['raw']:.2f} | {t['empty']:.2f} | {t['beam']:.2f} "
            f"| {t['infergraph']:.2f} | {t['beam'] / t['infergraph']:.2f} "
            f"| {t['beam'] / (t['raw'] + t['empty']):.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--per-row", action="store_true", help="one row per element")
    args = parser.parse_args()
    args.rows = args.rows or ([200_000] if args.per_row else [2_000_000, 10_000_000])
    logging.getLogger("apache_beam").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="infergraph-overhead-") as tmp:
        build_onnx(Path(tmp))
        first = Job("mlp", "ig-beam-blocks", args.rows[0], 1, tmp, tmp)
        start = time.perf_counter()
        _empty(warm_rows(first))
        print(f"the first (empty) pipeline of this process: {time.perf_counter() - start:.2f} s\n")
        if args.per_row:
            _per_row(args.rows, args.repeats, tmp)
            return
        print("| rows | raw (s) | empty pipeline (s) | infergraph on Beam (s) | vs raw | bound |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        for rows in args.rows:
            job = Job("mlp", "ig-beam-blocks", rows, args.repeats, tmp, tmp)
            data = warm_rows(job)
            runs: dict[str, Callable[[], int]] = {
                "raw": onnx_variants.raw(job),
                "empty": partial(_empty, data),
                "infergraph": onnx_variants.PREPARE["ig-beam-blocks"](job),
            }
            t = _timings(runs, args.repeats, rows)
            bound = t["raw"] / (t["raw"] + t["empty"])
            print(
                f"| {rows:,} | {t['raw']:.2f} | {t['empty']:.2f} | {t['infergraph']:.2f} "
                f"| {t['raw'] / t['infergraph']:.2f} | {bound:.2f} |"
            )


if __name__ == "__main__":
    main()
