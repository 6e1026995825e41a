"""Two real installed distributions that clash: one entry-point name, or one handler name."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import infergraph as ig
from infergraph.plugins import DISABLE_ENV, get_plugin_manager
from tests.plugins.dists import handler_module, install


@pytest.fixture
def sites(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Path]]:
    """Directories put first on sys.path, in the order asked for; their modules are forgotten."""
    before = set(sys.modules)
    made: list[Path] = []

    def site(name: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        made.append(path)
        # Earlier sites stay first: each new one goes after them.
        monkeypatch.setattr(sys, "path", [*map(str, made), *sys.path[len(made) - 1 :]])
        return path

    yield site
    for module in set(sys.modules) - before:
        if module.startswith(("clash_", "dup_")):
            del sys.modules[module]


def two_clashing(site: Callable[[str], Path]) -> tuple[Path, Path]:
    first = install(
        site("first"),
        "ig-clash-a",
        "1.0",
        {"clash_a": handler_module("times_a")},
        {"clash": "clash_a"},
    )
    second = install(
        site("second"),
        "ig-clash-b",
        "2.0",
        {"clash_b": handler_module("times_b")},
        {"clash": "clash_b"},
    )
    return first, second


def test_an_entry_point_clash_is_one_error_naming_both_distributions(sites) -> None:
    two_clashing(sites)
    plugins = get_plugin_manager()
    (error,) = plugins.errors
    assert isinstance(error, ig.PluginError)
    assert error.plugin == "clash"
    assert str(error) == (
        "plugin 'clash': the plugin name 'clash' (an entry point in the 'infergraph' group) is "
        "declared twice: by ig-clash-a 1.0, which is loaded, and by ig-clash-b 2.0, which is "
        "not. Plugin names must be unique: uninstall one of them (pip uninstall ig-clash-b), "
        f"or load neither with {DISABLE_ENV}=clash"
    )
    entry = plugins.get("times_a")
    assert (entry.plugin, entry.package) == ("clash", "ig-clash-a 1.0")
    assert "times_b" not in plugins.handlers
    assert "clash_b" not in sys.modules, "the clashing plugin is not even imported"


def test_disabling_the_clashing_name_loads_neither(sites) -> None:
    two_clashing(sites)
    plugins = get_plugin_manager(environ={DISABLE_ENV: "clash"})
    assert not plugins.errors
    assert not {"times_a", "times_b"} & set(plugins.handlers)


def test_the_cli_reports_a_clash_once_and_credits_the_right_package(sites) -> None:
    first, second = two_clashing(sites)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(first), str(second)])}
    done = subprocess.run(
        [sys.executable, "-m", "infergraph.cli", "handlers"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert done.stderr.splitlines() == [
        "infergraph: warning: plugin 'clash': the plugin name 'clash' (an entry point in the "
        "'infergraph' group) is declared twice: by ig-clash-a 1.0, which is loaded, and by "
        "ig-clash-b 2.0, which is not. Plugin names must be unique: uninstall one of them "
        f"(pip uninstall ig-clash-b), or load neither with {DISABLE_ENV}=clash"
    ]
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[1:]}
    assert rows["times_a"] == ["clash", "ig-clash-a", "1.0"]
    assert "times_b" not in rows
    assert rows["onnx"] == ["infergraph.handlers.onnx", "infergraph", "(built-in)"]


def test_a_handler_name_clash_names_both_distributions(sites) -> None:
    install(sites("a"), "ig-dup-a", "1.0", {"dup_a": handler_module("twin")}, {"dup_a": "dup_a"})
    install(sites("b"), "ig-dup-b", "3.1", {"dup_b": handler_module("twin")}, {"dup_b": "dup_b"})
    plugins = get_plugin_manager()
    (error,) = plugins.errors
    assert isinstance(error, ig.DuplicateHandlerError)
    assert str(error) == (
        "plugin 'dup_b': handler name 'twin' is already registered by plugin 'dup_a' "
        "(ig-dup-a 1.0); this plugin is from ig-dup-b 3.1. Handler names must be unique: "
        "rename one of the handlers, uninstall one of the distributions, or disable this "
        f"plugin with {DISABLE_ENV}=dup_b"
    )
    assert plugins.get("twin").package == "ig-dup-a 1.0"


def test_one_plugin_registering_a_name_twice_says_so(sites) -> None:
    install(
        sites("a"), "ig-dup-c", "1.0", {"dup_c": handler_module("same", "same")}, {"c": "dup_c"}
    )
    (error,) = get_plugin_manager().errors
    assert str(error) == (
        "plugin 'c': registers the handler name 'same' twice; give each handler its own name"
    )


def test_two_entry_points_for_one_module(sites) -> None:
    module = {"dup_d": handler_module("four")}
    install(sites("a"), "ig-dup-d", "1.0", module, {"d_one": "dup_d", "d_two": "dup_d"})
    plugins = get_plugin_manager()
    (error,) = plugins.errors
    assert str(error) == (
        "plugin 'd_two': points at the module 'dup_d' (installed by ig-dup-d 1.0), which is "
        "already loaded as plugin 'd_one'; a module is loaded once: remove one of the entry "
        f"points, or disable one with {DISABLE_ENV}=d_two"
    )
    assert plugins.get("four").plugin == "d_one"
