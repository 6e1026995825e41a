"""``infergraph handlers`` and ``infergraph inspect``: what is installed, and what a model takes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..plugins.manager import get_plugin_manager


def add_parser(commands: Any) -> None:
    """Add the ``handlers`` and ``inspect`` subcommands."""
    handlers = commands.add_parser("handlers", help="list registered handlers")
    handlers.add_argument("--schema", metavar="NAME", help="print the JSON schema of a config")
    handlers.set_defaults(run=_handlers)

    inspect = commands.add_parser("inspect", help="show a model's signatures, inputs and outputs")
    inspect.add_argument("path", help="a SavedModel directory or an .onnx file")
    inspect.set_defaults(run=_inspect)


def _handlers(args: argparse.Namespace, extra: list[str]) -> int:
    plugins = get_plugin_manager()
    if args.schema:
        schema = plugins.get(args.schema).handler_cls.Config.model_json_schema()
        print(json.dumps(schema, indent=2))
        return 0
    rows = [(e.name, e.plugin, e.package) for e in sorted(plugins.handlers.values(), key=_name)]
    widths = [max(len(r[i]) for r in [("NAME", "PLUGIN", "PACKAGE"), *rows]) for i in range(3)]
    for row in [("NAME", "PLUGIN", "PACKAGE"), *rows]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for error in plugins.errors:
        print(f"warning: {error}", file=sys.stderr)
    return 0


def _name(entry: Any) -> str:
    return str(entry.name)


def _inspect(args: argparse.Namespace, extra: list[str]) -> int:
    from ..handlers.inspect import describe_model

    print(describe_model(args.path))
    return 0
