"""docs/plugins.md is the worked plugin: its files are the example's, and every snippet runs.

The page shows examples/infergraph-sklearn file by file (a file may be split over several
blocks, joined by a blank line); those blocks must equal the files, which `make setup` installs
and tests/plugins/test_sklearn.py tests. The page's python blocks run top to bottom in one
namespace, its ``infergraph`` commands run through the CLI in the same directory, and its
``pip install`` command is the one the Makefile runs.
"""

from __future__ import annotations

import re
import shlex
import sys
import types
from pathlib import Path

import pytest

from infergraph.cli import main

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "plugins.md"
EXAMPLE = ROOT / "examples" / "infergraph-sklearn"
CAPTIONED = re.compile(r"\*\*`([^`]+)`\*\*(?: \(continued\))?\n\n```\w+\n(.*?)```", re.DOTALL)
BLOCKS = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def example_files() -> set[str]:
    skip = ("__pycache__", ".egg-info", "build")
    return {
        str(path.relative_to(EXAMPLE))
        for path in EXAMPLE.rglob("*")
        if path.is_file() and not any(part.endswith(skip) for part in path.parts)
    }


def test_the_page_shows_every_file_of_the_example_exactly() -> None:
    shown: dict[str, list[str]] = {}
    for path, text in CAPTIONED.findall(PAGE.read_text()):
        shown.setdefault(path, []).append(text)
    assert set(shown) == example_files()
    for path, parts in shown.items():
        assert "\n\n".join(parts) == (EXAMPLE / path).read_text(), (
            f"docs/plugins.md and examples/infergraph-sklearn/{path} differ: keep them identical"
        )


def test_the_layout_block_lists_the_files() -> None:
    layout = next(text for kind, text in BLOCKS.findall(PAGE.read_text()) if kind == "text")
    names = {line.split("── ")[-1].rstrip("/") for line in layout.splitlines()[1:]}
    assert {Path(path).name for path in example_files()} <= names


def shell_commands(script: str) -> list[list[str]]:
    joined = script.replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


def test_every_snippet_runs_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("docs_plugins")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    makefile = (ROOT / "Makefile").read_text().replace(" --quiet", "")
    ran = []
    for kind, text in BLOCKS.findall(PAGE.read_text()):
        if kind == "python":
            exec(compile(text, "docs/plugins.md", "exec"), module.__dict__)
        elif kind == "sh":
            for command in shell_commands(text):
                ran.append(command[0])
                if command[0] == "infergraph":
                    assert main(command[1:]) == 0, command
                else:
                    assert command[:3] == ["pip", "install", "-e"], command
                    assert f"$(BIN)/pip install -e {command[3]}\n" in makefile
    assert ran == ["pip", "infergraph", "infergraph"]
    listing = capsys.readouterr().out
    row = next(line.split() for line in listing.splitlines() if line.startswith("sklearn "))
    assert row == ["sklearn", "sklearn", "infergraph-sklearn", "0.1.0"]
    assert sorted((tmp_path / "species.jsonl").read_text().splitlines()) == [
        '{"id": "a", "output": 0}',
        '{"id": "b", "output": 2}',
    ]
    assert '"id": "c"' in (tmp_path / "species.failures.jsonl").read_text()
    module.test_sklearn_handler()
    suite = module.TestSklearnHandler
    rules = sorted(name for name in dir(suite) if name.startswith("test_"))
    assert len(rules) >= 8
    for rule in rules:
        getattr(suite(), rule)()
