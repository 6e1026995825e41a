from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import infergraph as ig
from infergraph.beam import RunInference
from infergraph.core import errors


def test_import_does_not_load_heavy_runtimes() -> None:
    code = (
        "import sys, infergraph, infergraph.core, infergraph.plugins;"
        "infergraph.get_plugin_manager();"
        "heavy = [m for m in ('tensorflow', 'onnxruntime', 'apache_beam', 'requests') "
        "if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_all_is_complete_and_resolvable() -> None:
    assert len(ig.__all__) == len(set(ig.__all__))
    for name in ig.__all__:
        assert getattr(ig, name) is not None, name
    ours = {
        name
        for name, value in vars(ig).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("infergraph")
    }
    missing = ours - set(ig.__all__)
    assert not missing, f"public names missing from __all__: {sorted(missing)}"


def test_run_inference_is_lazy() -> None:
    assert ig.RunInference is RunInference


def test_every_error_is_exported() -> None:
    classes = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == errors.__name__
    ]
    assert len(classes) > 10
    assert not [name for name in classes if name not in ig.__all__]


# -- the house: which room may import which ------------------------------------------------------

SRC = Path(__file__).resolve().parent.parent / "src"

LAYERS = ("core", "io", "plugins", "handlers", "graph", "beam", "testing", "serve", "cli")
"""The packages of ``src/``, lowest first: a module imports its own package and those below it,
never one above (the package root, ``infergraph/__init__.py``, re-exports from all of them)."""


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["infergraph", *parts])


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports anywhere: at the top, in functions, and under
    ``TYPE_CHECKING``."""
    name = _module_of(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {module for module in found if module in modules and module != name}


def _import_graph() -> dict[str, set[str]]:
    paths = sorted(SRC.rglob("*.py"))
    modules = {_module_of(path) for path in paths}
    return {_module_of(path): _imports(path, modules) for path in paths}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_package_has_a_layer() -> None:
    packages = {path.name for path in SRC.iterdir() if (path / "__init__.py").is_file()}
    assert packages == set(LAYERS)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for module, imported in _import_graph().items():
        own = _layer(module)
        if own is None:
            continue  # the package root re-exports the public API from every layer
        for target in sorted(imported):
            layer = _layer(target)
            if layer is None or layer > own:
                upward.append(f"{module} -> {target}")
    assert not upward, f"imports that run up the house: {upward}"


def test_there_are_no_import_cycles() -> None:
    graph = _import_graph()
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
