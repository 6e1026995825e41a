from __future__ import annotations

import subprocess
import sys

import infergraph as ig


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
    from infergraph.beam import RunInference

    assert ig.RunInference is RunInference


def test_every_error_is_exported() -> None:
    from infergraph.core import errors

    classes = [
        name
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == errors.__name__
    ]
    assert len(classes) > 10
    assert not [name for name in classes if name not in ig.__all__]
