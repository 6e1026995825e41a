"""Docs examples are executed, so they cannot rot."""

from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).parents[1] / "docs"
# Pages whose python blocks run top to bottom in one namespace, as a reader would paste them,
# in an empty directory; the `infergraph` commands of their sh blocks run in between.
# (plugins.md runs in full in tests/plugins/test_plugin_page.py.)
RUNNABLE = ["beam.md", "concepts.md", "failures.md", "graph.md"]


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)


def run_page(page: str, monkeypatch: pytest.MonkeyPatch, directory: Path) -> dict[str, Any]:
    """Run a page's blocks in ``directory``, in a registered module (so that its classes pickle
    like a user's would)."""
    from infergraph.cli import main

    monkeypatch.chdir(directory)
    module = types.ModuleType(f"docs_{page.removesuffix('.md')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert python_blocks(DOCS / page), f"{page} has no python examples"
    blocks = re.findall(r"```(python|sh)\n(.*?)```", (DOCS / page).read_text(), flags=re.DOTALL)
    for kind, block in blocks:
        if kind == "python":
            exec(compile(block, f"docs/{page}", "exec"), module.__dict__)
            continue
        for line in block.replace("\\\n", " ").splitlines():
            command = shlex.split(line, comments=True)
            if command and command[0] == "infergraph":
                assert main(command[1:]) == 0, f"docs/{page}: {line}"
    return module.__dict__


@pytest.mark.parametrize("page", RUNNABLE)
def test_examples_run(page: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    run_page(page, monkeypatch, tmp_path)


def test_every_page_in_the_nav_exists() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    for page in re.findall(r":\s*([\w/]+\.md)", nav):
        assert (DOCS / page).is_file(), f"mkdocs.yml lists {page}, which does not exist"


def test_graph_pictures_are_drawn_from_the_pages_graphs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    namespace = run_page("graph.md", monkeypatch, tmp_path)
    text = (DOCS / "graph.md").read_text()
    pictures = re.findall(r"<!-- picture: (\w+) -->\n```mermaid\n(.*?)```", text, flags=re.DOTALL)
    assert len(pictures) == 4
    for name, picture in pictures:
        assert picture == namespace[name].to_mermaid(), f"docs/graph.md picture of {name!r}"


def test_the_readme_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    root = DOCS.parent
    monkeypatch.syspath_prepend(str(root / "examples" / "times_table"))
    from build import build

    build(root / "examples" / "times_table" / "work")  # what `make run` builds, if missing
    monkeypatch.chdir(root)
    (block,) = python_blocks(root / "README.md")
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["a [525.] [1050.]", "b [540.] [1080.]"]
