"""``infergraph handlers`` and ``infergraph inspect``: what is installed, and what a model takes."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..handlers.inspect import describe_model
from ..plugins.manager import get_plugin_manager


def add_parser(commands: Any) -> None:
    """Add the ``handlers`` and ``inspect`` subcommands."""
    handlers = commands.add_parser(
        "handlers",
        help="list registered handlers",
        description="List the registered handlers: NAME (what --handler and ig.handler() take), "
        "PLUGIN (the entry-point name, which INFERGRAPH_DISABLE_PLUGINS takes) and PACKAGE "
        "(the distribution and version that installed it). A plugin that failed to load, or "
        "clashes with another, is reported on stderr with how to fix it.",
    )
    handlers.add_argument(
        "--schema",
        metavar="NAME",
        help="print the JSON schema of handler NAME's config (its fields, types, defaults and "
        "descriptions) instead of the list",
    )
    handlers.set_defaults(run=_handlers)

    inspect = commands.add_parser(
        "inspect",
        help="show a model's signatures, inputs and outputs",
        description="Show what a model takes and gives: a SavedModel's signatures, or an ONNX "
        "model's inputs and outputs, with names, dtypes and shapes (the names are the fields "
        "of a dict example). Needs infergraph[tensorflow] or infergraph[onnx].",
    )
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
    # Plugins that failed to load were logged once, as warnings, by get_plugin_manager.
    return 0


def _name(entry: Any) -> str:
    return str(entry.name)


def _inspect(args: argparse.Namespace, extra: list[str]) -> int:
    print(describe_model(args.path))
    return 0
