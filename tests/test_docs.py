"""Docs examples are executed, so they cannot rot."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parents[1] / "docs"
# Pages whose python blocks run top to bottom in one namespace, as a reader would paste them.
RUNNABLE = ["concepts.md", "failures.md", "graph.md", "plugins.md"]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)


def run_page(page: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run a page's blocks in a registered module, so its classes pickle like a user's would."""
    module = types.ModuleType(f"docs_{page.removesuffix('.md')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    blocks = python_blocks(DOCS / page)
    assert blocks, f"{page} has no python examples"
    for block in blocks:
        exec(compile(block, f"docs/{page}", "exec"), module.__dict__)
    return module.__dict__


@pytest.mark.parametrize("page", RUNNABLE)
def test_examples_run(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run_page(page, monkeypatch)


def test_plugin_page_example_passes_the_conformance_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = run_page("plugins.md", monkeypatch)
    namespace["test_my_handler"]()
    suite = namespace["TestScaleHandler"]
    rules = sorted(name for name in dir(suite) if name.startswith("test_"))
    assert len(rules) >= 8
    for rule in rules:
        if rule != "test_a_block_matches_its_rows":  # the page's handler takes no blocks
            getattr(suite(), rule)()


def test_every_page_in_the_nav_exists() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    for page in re.findall(r":\s*([\w/]+\.md)", nav):
        assert (DOCS / page).is_file(), f"mkdocs.yml lists {page}, which does not exist"


def test_graph_pictures_are_drawn_from_the_pages_graphs(monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = run_page("graph.md", monkeypatch)
    text = (DOCS / "graph.md").read_text()
    pictures = re.findall(r"<!-- picture: (\w+) -->\n```mermaid\n(.*?)```", text, flags=re.DOTALL)
    assert len(pictures) == 4
    for name, picture in pictures:
        assert picture == namespace[name].to_mermaid(), f"docs/graph.md picture of {name!r}"
