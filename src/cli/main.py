"""The ``infergraph`` command: parse the arguments, run one subcommand, map errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from . import handlers, predict, run, serve
from .errors import interrupted, quiet_libraries, user_error

# Each subcommand module has ``add_parser(commands)``, which sets ``run(args, extra) -> int``.
COMMANDS = {
    "handlers": handlers,
    "inspect": handlers,
    "predict": predict,
    "run": run,
    "schema": run,
    "serve": serve,
}
# Subcommands that pass the arguments they do not know on to Beam.
PASS_THROUGH = frozenset({"predict", "run"})


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``infergraph`` command; returns the exit status.

    An infergraph error (a bad option, handler, config, model, device or missing dependency),
    whether raised here or on a Beam worker, prints one line, ``infergraph: error: ...``, and
    exits with status 2; ``-v`` also prints its traceback. Any other exception is a bug and
    propagates with its traceback.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    _configure_logging(args.verbose)
    if extra and args.command not in PASS_THROUGH:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    with quiet_libraries(args.verbose):
        try:
            return int(args.run(args, extra))
        except KeyboardInterrupt:
            return _interrupted()
        except BrokenPipeError:
            return _reader_gone()
        except Exception as exc:
            if interrupted(exc):  # Ctrl-C inside a Beam step, which Beam rethrows wrapped
                return _interrupted()
            error = user_error(exc)
            if error is None:
                raise
            if args.verbose:
                traceback.print_exception(exc)
            print(f"infergraph: error: {error}", file=sys.stderr)
            return 2


INTERRUPTED = 130
"""The exit status of a run stopped by Ctrl-C (SIGINT): 128 + 2, as shells report it."""


def _interrupted() -> int:
    print(
        "infergraph: interrupted: the run stopped before it finished, so its outputs were not "
        "written (files of an earlier run stay as they were); run it again",
        file=sys.stderr,
    )
    return INTERRUPTED


BROKEN_PIPE = 141
"""The exit status when the reader of the output went away (``| head``): 128 + SIGPIPE."""


def _reader_gone() -> int:
    # Stop quietly, as Unix tools do; later writes (Python's own flush at exit) go nowhere.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # a stdout with no file descriptor
        pass
    return BROKEN_PIPE


class _Format(logging.Formatter):
    """Messages as they are; warnings and errors prefixed with their source and level."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno < logging.WARNING:
            return message
        level = record.levelname.lower()
        if record.name == "root":
            return f"{level}: {message}"
        return f"{record.name.partition('.')[0]}: {level}: {message}"


def _configure_logging(verbose: int) -> None:
    if logging.getLogger().handlers:
        return  # already configured, by an embedding program or a test runner: leave it alone
    handler = logging.StreamHandler()
    handler.setFormatter(_Format("%(message)s"))
    logging.basicConfig(level=logging.WARNING - 10 * verbose, handlers=[handler])


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="infergraph", description="Run ML models over data, in-process or on Apache Beam."
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more output: -v logs progress (INFO), Apache Beam's warnings and errors, Python "
        "warnings, and the traceback of an error; -vv also Beam's INFO logs",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for module in dict.fromkeys(COMMANDS.values()):
        module.add_parser(commands)
    return parser
