"""Records of a run: one per job, with ratios to the model's baselines filled in.

A record is a JSON object: ``model``, ``title``, ``variant`` (its id), ``label``, ``rows``,
``batch``, ``block_rows``, ``feed``, ``repeats``, ``processes``, ``status`` (``ok``, ``skipped`` or
``failed``), ``note``, ``seconds`` (the median of ``seconds_all``), ``rows_per_s``, ``vs_raw``,
``vs_beam``, ``peak_rss_mb``, ``driver_peak_rss_mb``, ``worker_peak_rss_mb``, ``load_avg_1m``
(the machine's load just before each sample started) and ``machine``. ``seconds_all`` holds
one sample per round of the run, each from a fresh process; the peaks are the largest.

``vs_raw`` and ``vs_beam`` divide ``rows_per_s`` by that of the model's ``raw`` and ``beam``
(Beam's own handler) variants, on the same row count where one ran on it, else on the largest.
``peak_rss_mb`` is the peak resident memory of the variant's process; for variants whose work
runs in worker processes, of the largest of them and the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.plan import BASELINES

Record = dict[str, Any]


def ok(records: Sequence[Record], model: str, variant: str) -> list[Record]:
    """The model's finished records of ``variant``, fewest rows first."""
    found = [
        r for r in records
        if r["model"] == model and r["variant"] == variant and r["status"] == "ok"
    ]
    return sorted(found, key=lambda r: r["rows"])


def baseline(records: Sequence[Record], record: Record, variant: str) -> Record | None:
    """The ``variant`` record ``record`` is compared with (see the module docstring)."""
    candidates = ok(records, record["model"], variant)
    same = [r for r in candidates if r["rows"] == record["rows"]]
    return (same or candidates[-1:] or [None])[0]


def with_ratios(records: Sequence[Record]) -> list[Record]:
    """The records with ``vs_raw`` and ``vs_beam`` (``None`` where there is no baseline)."""
    done = []
    for original in records:
        record = dict(original)
        for variant in BASELINES:
            base = baseline(records, record, variant) if record["status"] == "ok" else None
            ratio = None if base is None else record["rows_per_s"] / base["rows_per_s"]
            record[f"vs_{variant}"] = None if ratio is None else round(ratio, 4)
        done.append(record)
    return done


def peak_rss(driver_mb: float, worker_mb: float, processes: int) -> float:
    """The record's ``peak_rss_mb`` (see the module docstring)."""
    return max(driver_mb, worker_mb) if processes > 1 else driver_mb
