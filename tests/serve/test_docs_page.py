"""docs/serve.md's Python example builds an app that serves."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from tests.serve.conftest import serving
from tests.test_docs import DOCS, python_blocks


def test_the_serve_page_example_serves(
    tmp_path: Path, five_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(five_onnx, tmp_path / "five.onnx")
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks(DOCS / "serve.md")
    namespace: dict[str, object] = {"__name__": "docs_serve"}
    exec(compile(block, "docs/serve.md", "exec"), namespace)
    body = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [4.0]}]}
    with serving(namespace["app"]) as base:
        answer = requests.post(f"{base}/v2/models/five/infer", json=body, timeout=10)
    assert answer.json()["outputs"][0]["data"] == [20.0]
