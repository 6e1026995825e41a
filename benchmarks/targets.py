"""The suite's targets, judged from the records (reported, never asserted in tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from benchmarks.records import Record, ok

RSS_TOLERANCE = 0.10
RSS_VARIANTS = (
    ("mlp", "ig-blocks"),
    ("mlp", "ig-beam-blocks"),
    ("mlp", "ig-beam-blocks-2p"),
    ("chain", "ig-blocks"),
    ("chain", "ig-beam-blocks"),
)


@dataclass(frozen=True)
class Verdict:
    """A target and what the records say: ``met`` is ``None`` when they cannot say."""

    target: str
    met: bool | None
    detail: str

    @property
    def word(self) -> str:
        """``met``, ``not met`` or ``not measured``."""
        return {True: "met", False: "not met", None: "not measured"}[self.met]


def _ratio(
    model: str, variant: str, field: str, at_least: float, of: str, target: str
) -> Callable[[Sequence[Record]], Verdict]:
    def judge(records: Sequence[Record]) -> Verdict:
        found = ok(records, model, variant)
        if not found:
            return Verdict(target, None, _missing(records, model, variant))
        record = _comparable(records, found, model) if field == "vs_beam" else found[-1]
        ratio = record[field]
        if ratio is None:
            return Verdict(target, None, f"no {of} record to compare {model}/{variant} with")
        detail = f"{ratio:.2f}x {of} ({record['rows']:,} rows)"
        return Verdict(target, ratio >= at_least, detail)

    return judge


def _comparable(records: Sequence[Record], found: list[Record], model: str) -> Record:
    # Compared with Beam's own handler on the same rows where both ran on them.
    beam_rows = {r["rows"] for r in ok(records, model, "beam")}
    same = [r for r in found if r["rows"] in beam_rows]
    return (same or found)[-1]


def _missing(records: Sequence[Record], model: str, variant: str) -> str:
    for record in records:
        if record["model"] == model and record["variant"] == variant and record["note"]:
            return str(record["note"])
    return f"no finished {model}/{variant} record"


def rss_flat(records: Sequence[Record]) -> Verdict:
    """Each blocks variant (MLP, chain): peak RSS at its most rows within 10% of its fewest."""
    target = "blocks: peak RSS flat from 200 k to 2 M rows (within 10%)"
    parts, met = [], []
    for model, variant in RSS_VARIANTS:
        found = ok(records, model, variant)
        if len(found) < 2:
            continue
        low, high = found[0], found[-1]
        growth = high["peak_rss_mb"] / low["peak_rss_mb"] - 1
        met.append(growth <= RSS_TOLERANCE)
        parts.append(
            f"{model} {variant} {low['peak_rss_mb']:.0f} → {high['peak_rss_mb']:.0f} MB "
            f"({round(growth, 2) + 0.0:+.0%}, {low['rows']:,} → {high['rows']:,} rows)"
        )
    if not parts:
        return Verdict(target, None, "no blocks variant ran on two row counts")
    return Verdict(target, all(met), "; ".join(parts))


TARGETS: tuple[Callable[[Sequence[Record]], Verdict], ...] = (
    _ratio("mlp", "ig-beam-rows", "vs_beam", 1.5, "Beam's own ONNX handler",
           "one model on Beam, per row ≥ 1.5x Beam's own ONNX handler"),
    _ratio("chain", "ig-beam-rows", "vs_beam", 2.5, "two chained Beam RunInference",
           "graph A → B on Beam, per row ≥ 2.5x two chained Beam RunInference"),
    _ratio("chain", "ig-rows", "vs_beam", 3.0, "two chained Beam RunInference",
           "graph A → B in-process, per row ≥ 3x two chained Beam RunInference"),
    _ratio("mlp", "ig-rows", "vs_raw", 0.60, "raw",
           "one model in-process, per row ≥ 0.60x raw"),
    _ratio("mlp", "ig-beam-blocks", "vs_raw", 0.90, "raw",
           "infergraph on Beam, blocks ≥ 0.90x raw at 2 M rows"),
    _ratio("mlp", "ig-blocks", "vs_raw", 0.90, "raw",
           "infergraph in-process, blocks ≥ 0.90x raw"),
    _ratio("mlp", "ig-run-parquet", "vs_raw", 0.60, "raw",
           "`infergraph run` on a Parquet file ≥ 0.60x raw"),
    _ratio("tf", "ig-beam-rows", "vs_beam", 40.0, "Beam's TF handler",
           "TensorFlow, infergraph on Beam per row ≥ 40x Beam's TFModelHandlerTensor"),
    rss_flat,
)


def judge(records: Sequence[Record]) -> list[Verdict]:
    """Every target's verdict."""
    return [target(records) for target in TARGETS]
