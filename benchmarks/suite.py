"""The benchmark suite: every variant of every model, each in a fresh process, in one run.

``python -m benchmarks`` (``make bench``) runs the full suite; ``--quick`` a short one. The run
goes through every job ``--repeats`` times, in rounds, each time in a fresh process, so that a
burst of other work on the machine lands on one sample of many variants rather than on every
sample of one; a job's record holds the median. It prints one line per sample as it goes, then
the machine, the markdown table and the targets, and writes the records as JSON (``--json``)
and, for a full run, the chart (``--chart``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import table
from benchmarks.machine import describe, one_line
from benchmarks.plan import BENCHES, PLAN, Job, jobs
from benchmarks.records import Record, peak_rss, with_ratios

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "docs" / "img" / "benchmarks.png"
JOB_TIMEOUT_S = 1800


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; the exit status is 1 when a variant failed, else 0."""
    args = _parser().parse_args(argv)
    if args.chart and not args.json:
        raise SystemExit("--chart needs --json: the chart names the records it shows")
    chart = chart_path(args)
    repeats = args.repeats or (1 if args.quick else 3)
    keep = _selection(args.only)
    started = time.monotonic()
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path)
    machine = describe(ROOT)
    print(f"machine: {one_line(machine)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="infergraph-bench-") as tmp:
        models_dir, work_dir = Path(tmp) / "models", Path(tmp) / "work"
        work_dir.mkdir()
        todo = jobs(
            quick=args.quick, repeats=1, models_dir=str(models_dir),
            work_dir=str(work_dir), keep=keep,
        )
        _build_models(models_dir, env, tensorflow=any(j.model == "tf" for j in todo))
        samples: list[list[Sample]] = [[] for _ in todo]
        for round_number in range(1, repeats + 1):
            for number, job in enumerate(todo):
                if samples[number] and samples[number][-1]["status"] != "ok":
                    continue  # skipped or failed: not run again
                out = Path(tmp) / f"sample-{number}-{round_number}.json"
                sample = run_sample(job, env, out)
                samples[number].append(sample)
                where = f"[{round_number}/{repeats} {number + 1}/{len(todo)}]"
                print(f"{where} {_progress(job, sample)}", flush=True)
    records = with_ratios(
        [record(job, found, machine) for job, found in zip(todo, samples, strict=True)]
    )
    print()
    print(table.settings(records))
    print(table.table(records))
    print("targets:")
    print(table.targets(records))
    print(f"suite wall time: {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
        print(f"records -> {args.json}")
        if chart is not None:
            from benchmarks.chart import draw

            draw(records, args.json, chart)
            print(f"chart -> {chart}")
    return 1 if any(r["status"] == "failed" for r in records) else 0


def chart_path(args: argparse.Namespace) -> Path | None:
    """Where to draw the chart: ``--chart``, else the docs' for a full run with ``--json``;
    ``None`` when no chart is asked for, or matplotlib (the ``bench`` extra) is missing, which
    is said before the run, not found after it."""
    chart = args.chart if args.chart else (None if args.quick or not args.json else CHART)
    if chart is None:
        return None
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print(
            f"note: no chart ({chart}): it needs matplotlib, which is not installed "
            "(pip install -e '.[bench]'); the records still go to --json",
            file=sys.stderr,
        )
        return None
    return chart


Sample = dict[str, Any]


def run_sample(job: Job, env: dict[str, str], out: Path) -> Sample:
    """Run ``job`` once in a fresh ``python -m benchmarks.variant`` process; what it measured
    (``status``, ``note``, ``seconds``, the peaks) and the machine's load before it started."""
    load = round(os.getloadavg()[0], 2)
    command = [
        sys.executable, "-m", "benchmarks.variant",
        "--model", job.model, "--variant", job.variant, "--rows", str(job.rows),
        "--repeats", str(job.repeats), "--models-dir", job.models_dir,
        "--work-dir", job.work_dir, "--out", str(out),
    ]
    try:
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "note": f"failed: ran past {JOB_TIMEOUT_S} s", "load": load}
    if done.returncode != 0 or not out.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        last = tail[-1] if tail else f"exit status {done.returncode}"
        return {"status": "failed", "note": f"failed: {last}", "load": load}
    return {**json.loads(out.read_text()), "load": load}


def record(job: Job, samples: list[Sample], machine: dict[str, Any]) -> Record:
    """The record of a job from its samples (one per round): the median time, the largest
    peak RSS; skipped or failed if its last sample was."""
    planned = _planned(job)
    bench = BENCHES[job.model]
    timed = [s for s in samples if s["status"] == "ok"]
    last = samples[-1]
    seconds = [_round(s["seconds"]) for s in timed]
    median = statistics.median(seconds) if seconds and last["status"] == "ok" else None
    driver = max((s["driver_peak_rss_mb"] for s in timed), default=None)
    worker = max((s["worker_peak_rss_mb"] for s in timed), default=None)
    return {
        "model": job.model,
        "title": bench.title,
        "variant": job.variant,
        "label": planned.label,
        "rows": job.rows,
        "batch": bench.batch,
        "block_rows": bench.block_rows,
        "feed": bench.feed,
        "repeats": len(seconds),
        "processes": planned.processes,
        "status": last["status"],
        "note": last.get("note", ""),
        "seconds": median,
        "seconds_all": seconds,
        "rows_per_s": None if median is None else _round(job.rows / median),
        "peak_rss_mb": (
            None if driver is None or worker is None
            else peak_rss(driver, worker, planned.processes)
        ),
        "driver_peak_rss_mb": driver,
        "worker_peak_rss_mb": worker,
        "load_avg_1m": [s["load"] for s in samples],
        "machine": machine,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _planned(job: Job) -> Any:
    return next(p for p in PLAN if (p.model, p.variant) == (job.model, job.variant))


def _progress(job: Job, sample: Sample) -> str:
    name = f"{job.model} {job.variant} ({job.rows:,} rows)"
    if sample["status"] != "ok":
        return f"{name}: {sample['note']}"
    processes = _planned(job).processes
    peak = peak_rss(sample["driver_peak_rss_mb"], sample["worker_peak_rss_mb"], processes)
    return (
        f"{name}: {job.rows / sample['seconds']:,.0f} rows/s ({sample['seconds']:.2f} s), "
        f"peak RSS {peak:.0f} MB, load {sample['load']:.1f}"
    )


def _build_models(models_dir: Path, env: dict[str, str], *, tensorflow: bool) -> None:
    command = [sys.executable, "-m", "benchmarks.models", str(models_dir)]
    if not tensorflow:
        command.append("--no-tensorflow")
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"building the benchmark's models failed:\n{done.stderr[-3000:]}")


def _selection(only: str | None) -> Any:
    if not only:
        return lambda model, variant: True
    wanted = [part.strip() for part in only.split(",") if part.strip()]
    known = {(p.model, p.variant) for p in PLAN}
    for part in wanted:
        model, _, variant = part.partition(":")
        if model not in BENCHES or (variant and (model, variant) not in known):
            choices = ", ".join(sorted(f"{m}:{v}" for m, v in known))
            raise SystemExit(
                f"--only: unknown {part!r}; choose models or model:variant ids from {choices}"
            )

    def keep(model: str, variant: str) -> bool:
        return any(part in (model, f"{model}:{variant}") for part in wanted)

    return keep


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run the benchmark suite: every variant in its own process, medians of "
        "repeats, a markdown table, the targets, and the records as JSON.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small row counts, 1 repeat: seconds to minutes"
    )
    parser.add_argument(
        "--repeats", type=int, help="timed runs per variant, the median reported (default 3; "
        "1 with --quick)",
    )
    parser.add_argument("--json", type=Path, help="write the records here")
    parser.add_argument(
        "--chart", type=Path,
        help=f"draw the chart here (default for a full run with --json: {CHART.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--only", help="comma-separated models or model:variant ids (e.g. mlp,tf:raw)"
    )
    return parser
