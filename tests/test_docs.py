"""Docs examples are executed, so they cannot rot."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from infergraph.cli import main

DOCS = Path(__file__).parents[1] / "docs"
# Pages whose python blocks run top to bottom in one namespace, as a reader would paste them,
# in an empty directory; the `infergraph` commands of their sh blocks run in between.
# (plugins.md runs in full in tests/plugins/test_plugin_page.py.)
RUNNABLE = ["beam.md", "concepts.md", "failures.md", "graph.md", "streaming.md"]
# Pages whose python blocks are scripts that start processes: each block runs as
# `python script.py` in a directory holding SCRIPT_SPEC as spec.yaml, as a reader would run it.
SCRIPTS = ["scale-out.md"]
# Pages whose python blocks run in other tests: the test file that runs each.
RUN_ELSEWHERE = {
    "plugins.md": "tests/plugins/test_plugin_page.py",
    "handlers/onnx.md": "tests/handlers/test_onnx_docs.py",
    "handlers/remote.md": "tests/handlers/test_remote.py",
    "handlers/tensorflow.md": "tests/handlers/test_tensorflow_docs.py",
    "serve.md": "tests/serve/test_docs_page.py",
}
# What starts processes that import the script again (multiprocessing's spawn and forkserver).
STARTS_PROCESSES = re.compile(r"LocalCluster\(|multiprocessing|ProcessPoolExecutor|\bProcess\(")
SCRIPT_SPEC = """\
name: docs
models:
  five: {handler: onnx, path: five.onnx}
nodes:
  - {name: five, model: five}
inputs:
  - {format: jsonl, path: in.jsonl, key_field: id}
outputs:
  - {format: jsonl, path: out.jsonl}
"""


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)


def run_page(page: str, monkeypatch: pytest.MonkeyPatch, directory: Path) -> dict[str, Any]:
    """Run a page's blocks in ``directory``, in a registered module (so that its classes pickle
    like a user's would)."""
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


def pages_with_python() -> list[str]:
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if python_blocks(p))


def test_every_python_example_in_the_docs_is_run_by_a_test() -> None:
    covered = {*RUNNABLE, *SCRIPTS, *RUN_ELSEWHERE}
    missing = [page for page in pages_with_python() if page not in covered]
    assert not missing, f"python examples no test runs: {missing}; add them to RUNNABLE or SCRIPTS"
    for page, test in RUN_ELSEWHERE.items():
        assert Path(page).name in (DOCS.parent / test).read_text(), f"{test} does not run {page}"


def test_examples_that_start_processes_are_guarded_scripts() -> None:
    for page in pages_with_python():
        for block in python_blocks(DOCS / page):
            if STARTS_PROCESSES.search(block):
                assert 'if __name__ == "__main__":' in block, f"docs/{page}: add the guard"
                assert page in SCRIPTS, f"docs/{page} starts processes: run it as a script"


@pytest.mark.slow
@pytest.mark.parametrize("page", SCRIPTS)
def test_scripts_run_as_python_script_py(page: str, tmp_path: Path, five_onnx: Path) -> None:
    (tmp_path / "five.onnx").write_bytes(five_onnx.read_bytes())
    (tmp_path / "in.jsonl").write_text('{"id": "a", "x": [1.0]}\n{"id": "b", "x": [2.0]}\n')
    (tmp_path / "spec.yaml").write_text(SCRIPT_SPEC)
    for number, block in enumerate(python_blocks(DOCS / page)):
        script = tmp_path / f"script_{number}.py"
        script.write_text(block)
        command = [sys.executable, script.name]
        done = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False
        )
        assert done.returncode == 0, f"docs/{page}, python block {number + 1}:\n{done.stderr}"


# "onnxruntime 1.32" in a page: the distribution each name means. performance.md is left out: it
# names the versions of the machine that measured (benchmarks/report.py writes them).
VERSIONED = {
    "onnxruntime": "onnxruntime",
    "ONNX Runtime": "onnxruntime",
    "onnx": "onnx",
    "TensorFlow": "tensorflow",
    "tensorflow": "tensorflow",
    "Keras": "keras",
    "scikit-learn": "scikit-learn",
    "apache-beam": "apache-beam",
}


def test_versions_named_in_the_docs_are_the_installed_ones() -> None:
    from importlib.metadata import PackageNotFoundError, version

    names = "|".join(re.escape(name) for name in VERSIONED)
    pattern = re.compile(rf"(?<![\w-])({names}) (\d+\.\d+(?:\.\d+)?)\b")
    pages = [*DOCS.rglob("*.md"), DOCS.parent / "README.md"]
    for page in (p for p in pages if p.name != "performance.md"):
        for name, named in pattern.findall(page.read_text()):
            try:
                installed = version(VERSIONED[name])
            except PackageNotFoundError:
                continue
            assert installed == named or installed.startswith(named + "."), (
                f"{page.relative_to(DOCS.parent)} names {name} {named}; {installed} is installed"
            )


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
