"""docs/performance.md's serving section is the committed run of benchmarks.serve, rendered."""

from __future__ import annotations

import json

from benchmarks import serve


def test_the_serving_section_matches_the_committed_run() -> None:
    results = json.loads(serve.RESULTS.read_text())
    text = serve.PAGE.read_text()
    assert serve.START in text and serve.END in text
    assert serve.rewrite(text, results) == text, (
        "docs/performance.md's serving section disagrees with benchmarks/results/serve.json; "
        "run: python -m benchmarks.serve --record"
    )


def test_targets_are_judged_from_the_points() -> None:
    point = {"p50_ms": 1.0, "p99_ms": 10.0, "errors": 0}
    points = [
        serve.Point(model="compute", server=server, concurrency=32, rps=rps, **point)
        for server, rps in [("infergraph", 2000.0), ("infergraph-nobatch", 1000.0)]
    ]
    (line,) = serve.targets(points)
    assert line.startswith("not met: compute, c=32, batching >= 3x batching off")
    assert "2.00x" in line
