"""A spec whose models, input and outputs are all on a real S3 API server (see tests/s3_server.py),
and the same spec on local files, for runs that must give the in-process results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tests.beam.test_scale_out import SPEC
from tests.s3_server import S3Server

ROWS = 300
BUCKET = "store"


def write_project(root: Path, five_onnx: Path, ten_onnx: Path, *, slow_s: float = 0.0) -> None:
    """The models, adapters and input of the scale-out spec under ``root``; ``double`` sleeps
    ``slow_s`` per block (a run long enough to kill a worker in)."""
    for model in (five_onnx, ten_onnx):
        (root / model.name).write_bytes(model.read_bytes())
    (root / "adapters.py").write_text(
        f"import time\n\ndef double(column):\n    time.sleep({slow_s})\n    return column * 2\n"
    )
    xs = np.random.default_rng(7).uniform(0, 100, ROWS).astype(np.float32)
    with open(root / "in.jsonl", "w") as stream:
        for i, x in enumerate(xs):
            stream.write(json.dumps({"key": f"user-{i}", "x": [float(x)]}) + "\n")
    (root / "local.yaml").write_text(SPEC.replace("FORMAT", "jsonl").replace("DATA", "in.jsonl"))


def upload_project(root: Path, s3: S3Server, prefix: str) -> Path:
    """Models and input on ``s3://store/<prefix>/``; the spec naming them there (local: its
    adapters module). Outputs: ``out/results.jsonl`` and Parquet parts ``out/table-*``."""
    base = f"s3://{BUCKET}/{prefix}"
    for name in ("five.onnx", "ten.onnx", "in.jsonl"):
        s3.upload(root / name, f"{base}/{name}")
    spec = (
        SPEC.replace("FORMAT", "jsonl")
        .replace("DATA", f"{base}/in.jsonl")
        .replace("path: five.onnx", f"path: {base}/five.onnx")
        .replace("path: ten.onnx", f"path: {base}/ten.onnx")
        .replace("path: out.jsonl", f"path: {base}/out/results.jsonl")
    )
    spec += f"  - {{format: parquet, path: {base}/out/table, nodes: [double, arm]}}\n"
    path = root / f"{prefix}.yaml"
    path.write_text(spec)
    return path


def stored_records(s3: S3Server, url: str) -> dict[str, Any]:
    """The JSONL records at ``url`` by key (each key once: a key written twice fails)."""
    lines = s3.read(url).decode().splitlines()
    records = {record["key"]: record for record in map(json.loads, lines)}
    assert len(records) == len(lines), "a key was written more than once"
    return records
