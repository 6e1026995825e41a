"""The 5 times table: two models (y = 5x and y = 10x) over keyed JSONL, on the Beam DirectRunner.

Run it with ``make run`` (or ``.venv/bin/python examples/five_times_table.py``). It builds both
models as ONNX files, writes the input JSONL, runs ``infergraph predict`` once per model and
prints the table. Everything lands in ``out/five_times_table/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from infergraph.cli import main as infergraph

INPUTS = {"a": 105, "b": 108, "c": 1000, "d": 1013}


def build_times(path: Path, factor: float) -> Path:
    """Write an ONNX model computing ``y = factor * x`` for a [batch, 1] float input ``x``."""
    value = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "factor"], ["y"])],
        f"times_{factor:g}",
        [value("x", TensorProto.FLOAT, [None, 1])],
        [value("y", TensorProto.FLOAT, [None, 1])],
        [numpy_helper.from_array(np.array([factor], dtype=np.float32), "factor")],
    )
    # onnxruntime accepts IR 8 / opset 17; onnx's defaults are newer than it reads.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(path))
    return path


def run(out: Path) -> dict[str, dict[str, float]]:
    """Build, run, and return ``{key: {"x": x, "5x": ..., "10x": ...}}``."""
    out.mkdir(parents=True, exist_ok=True)
    inputs = out / "inputs.jsonl"
    inputs.write_text("".join(json.dumps({"id": k, "x": [v]}) + "\n" for k, v in INPUTS.items()))
    table = {key: {"x": float(x)} for key, x in INPUTS.items()}
    for factor in (5, 10):
        model = build_times(out / f"times_{factor}.onnx", factor)
        output = out / f"times_{factor}.jsonl"
        status = infergraph(
            [
                "predict",
                "--handler",
                "onnx",
                "--model",
                str(model),
                "--input",
                str(inputs),
                "--output",
                str(output),
                "--key-field",
                "id",
            ]
        )
        if status != 0:
            raise SystemExit(status)
        for line in output.read_text().splitlines():
            record = json.loads(line)
            table[record["id"]][f"{factor}x"] = record["output"][0]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/five_times_table"))
    table = run(parser.parse_args().out)
    print(f"{'key':>4} {'x':>6} {'5x':>8} {'10x':>8}")
    for key, row in sorted(table.items()):
        print(f"{key:>4} {row['x']:>6g} {row['5x']:>8g} {row['10x']:>8g}")


if __name__ == "__main__":
    sys.exit(main())
