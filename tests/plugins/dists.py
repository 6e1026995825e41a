"""Real installed distributions in a temporary directory: ``importlib.metadata`` reads them.

A directory with ``<module>.py`` and ``<name>-<version>.dist-info/{METADATA,entry_points.txt}``
on ``sys.path`` (or ``PYTHONPATH``) is what ``pip install`` leaves in site-packages, as far as
plugin discovery is concerned.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def install(
    site: Path, name: str, version: str, modules: dict[str, str], entry_points: dict[str, str]
) -> Path:
    """Write distribution ``name`` ``version`` with ``modules`` (name -> source) into ``site``.

    ``entry_points`` maps entry-point names in the ``infergraph`` group to module names.
    """
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{ep} = {module}\n" for ep, module in entry_points.items())
    (info / "entry_points.txt").write_text(f"[infergraph]\n{lines}")
    (info / "RECORD").write_text("")
    return site


def handler_module(*names: str, extra: str = "") -> str:
    """A plugin module registering a small real handler under each of ``names``."""
    registrations = "".join(f"    register({name!r}, Times)\n" for name in names)
    return (
        textwrap.dedent(
            """\
            from infergraph import ModelHandler, hookimpl


            class Times(ModelHandler):
                def load(self):
                    return 3

                def run(self, model, batch):
                    return [model * x for x in batch]
            """
        )
        + textwrap.dedent(extra)
        + "\n\n@hookimpl\ndef register_handlers(register):\n"
        + registrations
    )
