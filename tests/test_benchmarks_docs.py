"""The docs' benchmark numbers come from the committed run of the suite, and from nowhere else."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from benchmarks import report
from benchmarks.chart import source_tag
from benchmarks.plan import PLAN
from benchmarks.records import with_ratios

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
CHART = DOCS / "img" / "benchmarks.png"


def png_text(path: Path) -> dict[str, str]:
    """The tEXt chunks of a PNG file."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    found, position = {}, 8
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"tEXt":
            key, _, value = body.partition(b"\0")
            found[key.decode("latin-1")] = value.decode("latin-1")
        position += 12 + length
    return found


def test_pages_match_the_committed_run() -> None:
    records = report.load()
    for page in report.PAGES:
        text = page.read_text()
        assert report.sections_in(text), f"{page.name} has no generated benchmark sections"
        assert report.rewrite(text, records) == text, (
            f"{page.relative_to(ROOT)} disagrees with benchmarks/results/full.json; "
            "run: python -m benchmarks.report"
        )


def test_the_performance_page_shows_every_section_and_the_chart() -> None:
    text = (DOCS / "performance.md").read_text()
    assert report.sections_in(text) == ["machine", "settings", "table", "targets"]
    assert "](img/benchmarks.png)" in text


def test_the_committed_run_is_a_full_run_of_every_planned_job() -> None:
    records = report.load()
    planned = [(p.model, p.variant, rows) for p in PLAN for rows in p.full]
    assert [(r["model"], r["variant"], r["rows"]) for r in records] == planned
    assert {r["repeats"] for r in records if r["status"] == "ok"} == {3}
    assert all(r["status"] in ("ok", "skipped") for r in records), "a variant failed"
    for record in records:
        if record["status"] == "skipped":
            assert record["note"].startswith("not available: "), record
            continue
        assert len(record["seconds_all"]) == 3
        assert record["seconds"] == statistics.median(record["seconds_all"])
        assert abs(record["rows_per_s"] * record["seconds"] / record["rows"] - 1) < 1e-3
        assert record["peak_rss_mb"] > 0


def test_the_committed_ratios_are_the_suite_s() -> None:
    records = report.load()
    assert with_ratios(records) == records


def test_the_chart_is_drawn_from_the_committed_run() -> None:
    assert png_text(CHART).get("Source") == source_tag(report.RESULTS), (
        "docs/img/benchmarks.png was not drawn from benchmarks/results/full.json; "
        "run: python -m benchmarks.report --chart docs/img/benchmarks.png"
    )


def test_no_other_page_quotes_its_own_throughput() -> None:
    number = r"(?:\d{1,3}(?:[, ]\d{3})+|\d{4,})"  # 1,234 or 1 234 or 1234: a measured rate
    quoted = re.compile(rf"{number}\s*(?:rows/s|rows per second)|\|\s*{number}\s*\|")
    for page in DOCS.rglob("*.md"):
        if page.name == "performance.md":
            continue
        match = quoted.search(page.read_text())
        assert match is None, (
            f"{page.relative_to(ROOT)} quotes a measurement ({match.group(0)!r}); link to "
            "performance.md, whose numbers come from the suite"
        )
