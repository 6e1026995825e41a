"""The ``infergraph`` command: parse the arguments, run one subcommand, map errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..core.errors import InfergraphError
from . import handlers, predict, run

# Each subcommand module has ``add_parser(commands)``, which sets ``run(args, extra) -> int``.
COMMANDS = {
    "handlers": handlers,
    "inspect": handlers,
    "predict": predict,
    "run": run,
    "schema": run,
}
# Subcommands that pass the arguments they do not know on to Beam.
PASS_THROUGH = frozenset({"predict", "run"})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``infergraph`` command; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * args.verbose, format="%(message)s")
    if extra and args.command not in PASS_THROUGH:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.run(args, extra))
    except InfergraphError as exc:
        print(f"infergraph: error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="infergraph", description="Run ML models over data, in-process or on Apache Beam."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in dict.fromkeys(COMMANDS.values()):
        module.add_parser(commands)
    return parser
