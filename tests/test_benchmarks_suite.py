"""The benchmark suite: its plan, data, models, targets, report, and a real quick run."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import infergraph as ig
from benchmarks import models, report
from benchmarks.data import Rows, pool
from benchmarks.plan import BENCHES, PLAN
from benchmarks.records import with_ratios
from benchmarks.remote_variants import PER_REQUEST
from benchmarks.targets import judge

ROOT = Path(__file__).parents[1]


def test_every_planned_row_count_fills_whole_chunks() -> None:
    for planned in PLAN:
        bench = BENCHES[planned.model]
        for rows in planned.full + planned.quick:
            if bench.model == "remote":
                assert rows % PER_REQUEST == 0, planned
            else:
                assert bench.rows(rows).chunks * bench.block_rows == rows, planned
    with pytest.raises(ValueError, match="multiple of the block size"):
        Rows((32,), 15_000, 10_000)


def test_every_variant_sees_the_same_rows_in_the_same_order() -> None:
    rows = Rows((4,), 60, 10)
    arrays = list(rows.arrays())
    chunks = pool((4,), 10)
    assert len(arrays) == 6
    assert all(a is chunks[i % len(chunks)] for i, a in enumerate(arrays))
    assert np.array_equal(np.stack(list(rows.each_row())), np.concatenate(arrays))
    blocks = [b for i in range(rows.chunks) for b in rows.make_rows(blocks=True)(i)]
    assert all(isinstance(b, ig.Block) for b in blocks)
    assert np.array_equal(np.concatenate([b.data for b in blocks]), np.concatenate(arrays))
    per_row = [r for i in range(rows.chunks) for r in rows.make_rows(blocks=False)(i)]
    assert np.array_equal(np.stack(per_row), np.concatenate(arrays))


def test_the_convolutional_model_classifies_images(tmp_path: Path) -> None:
    path = models.conv(tmp_path / "conv.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).standard_normal((5, *models.IMAGE), dtype=np.float32)
    (logits,) = session.run(None, {"x": images})
    assert logits.shape == (5, models.CLASSES)
    assert np.isfinite(logits).all()


@pytest.mark.slow
def test_the_tensorflow_twin_computes_what_the_onnx_mlp_does(tmp_path: Path) -> None:
    models.build_onnx(tmp_path)
    twin = models.tf_mlp(tmp_path / "tf_mlp")
    rows = np.random.default_rng(1).standard_normal((64, 32), dtype=np.float32)
    onnx = ig.handler("onnx", path=models.model_path(tmp_path, "mlp"))
    tf = ig.handler("tensorflow", path=str(twin))
    (expected,) = [r.output for r in ig.predict(onnx, [ig.Block(rows)])]
    (got,) = [r.output for r in ig.predict(tf, [ig.Block(rows)])]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def _record(variant: str, rows: int, rows_per_s: float, *, model: str = "mlp",
            peak: float = 200.0, status: str = "ok", note: str = "") -> dict[str, object]:
    return {
        "model": model, "variant": variant, "rows": rows, "status": status, "note": note,
        "rows_per_s": rows_per_s if status == "ok" else None, "peak_rss_mb": peak,
    }


def test_targets_are_judged_from_the_records() -> None:
    records = with_ratios([
        _record("raw", 2_000_000, 1000.0),
        _record("beam", 200_000, 100.0),
        _record("ig-blocks", 200_000, 900.0, peak=200.0),
        _record("ig-blocks", 2_000_000, 950.0, peak=216.0),
        _record("ig-beam-rows", 200_000, 99.0),
        _record("ig-beam-blocks", 200_000, 700.0, peak=200.0),
        _record("ig-beam-blocks", 2_000_000, 860.0, peak=240.0),
        _record("ig-run-parquet", 2_000_000, 0.0, status="skipped",
                note="not available: no parquet"),
        _record("beam", 20_000, 10.0, model="tf"),
        _record("ig-beam-rows", 20_000, 250.0, model="tf"),
        _record("ig-beam-rows", 200_000, 150.0, model="tf"),
    ])
    words = [v.word for v in judge(records)]
    assert words == [
        "not met", "not measured", "not measured", "not measured", "not met", "met",
        "not measured", "not met", "not met",
    ]
    per_row, chain_beam, _, _, beam_blocks, in_process, parquet, tf, rss = judge(
        records
    )
    assert per_row.detail == "0.99x Beam's own ONNX handler (200,000 rows)"
    assert chain_beam.detail == "no finished chain/ig-beam-rows record"
    assert beam_blocks.detail == "0.86x raw (2,000,000 rows)"
    assert in_process.detail == "0.95x raw (2,000,000 rows)"
    assert parquet.detail == "not available: no parquet"
    # Compared with Beam's TF handler on the rows both ran on (20 k), not the larger run.
    assert tf.detail == "25.00x Beam's TF handler (20,000 rows)"
    assert "mlp ig-blocks 200 → 216 MB (+8%" in rss.detail
    assert "mlp ig-beam-blocks 200 → 240 MB (+20%" in rss.detail


def test_report_rewrites_only_the_marked_sections() -> None:
    records = with_ratios([_record("raw", 10_000, 1234.5)])
    for record in records:
        record.update(
            title="MLP", label="raw", machine={"cpu": "x"}, repeats=1, feed="batches of 8"
        )
    text = "intro\n<!-- benchmarks:settings -->\nold\n<!-- /benchmarks:settings -->\nend\n"
    new = report.rewrite(text, records)
    assert new == (
        "intro\n<!-- benchmarks:settings -->\nEach variant ran 1 time(s), in rounds, each time "
        "in a fresh process; the table shows the median. MLP: batches of 8.\n"
        "<!-- /benchmarks:settings -->\nend\n"
    )
    assert report.rewrite(new, records) == new
    with pytest.raises(ValueError, match="unknown section 'nope'"):
        report.rewrite("<!-- benchmarks:nope -->\n<!-- /benchmarks:nope -->", records)


@pytest.mark.slow
def test_a_quick_run_measures_each_variant_in_its_own_process(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    chart = ROOT / "docs" / "img" / "benchmarks.png"
    chart_before = chart.stat().st_mtime_ns if chart.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out),
         "--only", "mlp:raw,mlp:ig-blocks,mlp:ig-beam-blocks"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = json.loads(out.read_text())
    assert [(r["variant"], r["rows"]) for r in records] == [
        ("raw", 200_000),
        ("ig-blocks", 20_000),
        ("ig-blocks", 200_000),
        ("ig-beam-blocks", 20_000),
        ("ig-beam-blocks", 200_000),
    ]
    for record in records:
        assert record["status"] == "ok", record
        assert record["rows_per_s"] > 0 and record["seconds_all"] == [record["seconds"]]
        assert record["peak_rss_mb"] > 50
        assert record["vs_beam"] is None  # Beam's own handler did not run
        assert {"cpu", "cores", "ram_gib", "os", "python", "numpy", "onnxruntime",
                "tensorflow", "apache-beam"} <= set(record["machine"])
    assert records[0]["vs_raw"] == 1.0
    assert "| model | variant | rows | rows/s | vs raw | vs Beam | peak RSS (MB) |" in done.stdout
    assert "targets:" in done.stdout
    assert (chart.stat().st_mtime_ns if chart.exists() else None) == chart_before, (
        "a quick run must not redraw the docs' chart"
    )


def test_a_run_without_matplotlib_skips_the_chart_with_a_note(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``python -m benchmarks --json out.json`` without the ``bench`` extra ended in a traceback
    after the whole run; the chart is skipped, said before the run."""
    from benchmarks.suite import CHART, _parser, chart_path

    full = _parser().parse_args(["--json", str(tmp_path / "out.json")])
    monkeypatch.setitem(sys.modules, "matplotlib", types.ModuleType("matplotlib"))
    assert chart_path(full) == CHART
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert chart_path(full) is None
    assert "it needs matplotlib, which is not installed" in capsys.readouterr().err
    quick = _parser().parse_args(["--quick", "--json", str(tmp_path / "out.json")])
    assert chart_path(quick) is None
    assert capsys.readouterr().err == ""  # no chart asked for: no note
