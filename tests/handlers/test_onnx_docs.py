"""The onnx handler page's example runs top to bottom, as a reader would paste it."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).parents[2] / "docs" / "handlers" / "onnx.md"


def test_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1
    namespace: dict[str, object] = {"__name__": "docs_onnx"}
    exec(compile(blocks[0], str(PAGE), "exec"), namespace)
    assert namespace["block"] is not None
