"""The times table: build the models if missing, run a TFX pattern's spec on the DirectRunner.

    python examples/times_table/run.py            # pattern 4: parallel and in sequence
    python examples/times_table/run.py --pattern 1|2|3|4|all

Each pattern is a graph spec in this directory, run with ``infergraph run``; the results land in
``examples/times_table/out/`` and are printed here.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPECS = {
    "1": HERE / "1_predictions.yaml",
    "2": HERE / "2_postprocess.yaml",
    "3": HERE / "3_keys.yaml",
    "4": HERE / "4_parallel_and_sequence.yaml",
}
OUT = HERE / "out"


def run(pattern: str) -> list[dict[str, Any]]:
    """Run one pattern's spec; its result records."""
    from infergraph.cli import main as infergraph

    spec = SPECS[pattern]
    status = infergraph(["run", str(spec), "--no-progress"])
    if status != 0:
        raise SystemExit(f"infergraph run {spec.name} exited with status {status}")
    output = OUT / f"{spec.stem}.jsonl"
    return [json.loads(line) for line in output.read_text().splitlines()]


def show(pattern: str, records: list[dict[str, Any]]) -> None:
    """Print a pattern's results as a table."""
    print(f"\n== pattern {pattern}: {SPECS[pattern].stem}")
    if pattern == "1":
        for record in sorted(records, key=lambda r: r["five"]):
            print(f"  5x -> {record['five'][0]:g}")
    elif pattern == "2":
        for record in sorted(records, key=lambda r: float(r["text"].split("[")[1].split("]")[0])):
            print(f"  {record['text']}")
    elif pattern == "3":
        for record in sorted(records, key=lambda r: r["five"]):
            print(f"  {record['key']:<16} 5x -> {record['five'][0]:g}")
    else:
        xs = questions()
        print(f"  {'key':<16} {'x':>6} {'5x':>9} {'10x':>9} {'5x then 10x':>12}")
        for record in sorted(records, key=lambda r: xs[r["key"]]):
            row = [record["five"][0], record["ten"][0], record["then_ten"][0]]
            print(
                f"  {record['key']:<16} {xs[record['key']]:>6g} "
                + " ".join(
                    f"{value:>{width}.6g}" for value, width in zip(row, (9, 9, 12), strict=True)
                )
            )


def questions() -> dict[str, float]:
    """The keyed inputs, from the CSV the build writes."""
    with open(HERE / "work" / "data" / "inputs.csv", newline="") as stream:
        return {row["key"]: float(row["x"]) for row in csv.DictReader(stream)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pattern", choices=[*SPECS, "all"], default="4")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ notices
    sys.path.insert(0, str(HERE))
    from build import build

    build(HERE / "work")
    patterns = list(SPECS) if args.pattern == "all" else [args.pattern]
    for pattern in patterns:
        show(pattern, run(pattern))
    return 0


if __name__ == "__main__":
    sys.exit(main())
