"""``infergraph predict`` on JSONL records, as the exported-model tests run it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infergraph.cli import main


def predict_jsonl(
    handler: str, model: Path, records: list[dict[str, Any]], work: Path, *sets: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``infergraph predict`` keyed by ``id`` over ``records``; outputs and failures by id.

    Every record must come back exactly once, as an output or a failure.
    """
    source = work / "in.jsonl"
    source.write_text("".join(json.dumps(record) + "\n" for record in records))
    out = work / "out.jsonl"
    args = ["predict", "--handler", handler, "--model", str(model), "--input", str(source)]
    args += ["--output", str(out), "--key-field", "id", "--no-progress"]
    for option in sets:
        args += ["--set", option]
    status = main(args)
    outputs = _by_id(out)
    failures = _by_id(work / "out.failures.jsonl")
    assert status == (0 if outputs else 1), f"exit status {status}"
    assert sorted([*outputs, *failures]) == sorted(r["id"] for r in records)
    return outputs, failures


def _by_id(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    by_id = {line["id"]: line for line in lines}
    assert len(by_id) == len(lines), "a key came back twice"
    return by_id
