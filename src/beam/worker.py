"""Worker processes that keep their own output off the terminal they share with the runner.

Beam's local multi-process workers (``--direct_running_mode=multi_processing``) and the workers
of a local Dask cluster write to the stderr of the process that started them. Beam writes there
from its first import on: a module-level ``logging.warning`` (``apitools not found``) gives the
root logger a stderr handler, which then prints every record (Beam's start-up INFO lines, every
pipeline option, sink notices), and Beam's SDK worker prints a failing bundle's traceback, which
the runner reports itself. Each worker therefore starts with :data:`SETUP`: a root handler that
drops records (Beam's SDK workers still send theirs to the runner's process through Beam's
logging channel), and, where ``INFERGRAPH_QUIET_WORKERS`` is set (the ``infergraph`` command sets
it unless ``-v``), its Python stderr discarded.

The setup is source text, run before anything imports Beam (importing this package would).
"""

from __future__ import annotations

import shlex
import sys

QUIET_WORKERS = "INFERGRAPH_QUIET_WORKERS"
"""Set (to anything) in the runner's environment: workers discard their Python stderr."""

SETUP = f"""\
import logging, os, sys
logging.getLogger().addHandler(logging.NullHandler())
if os.environ.get({QUIET_WORKERS!r}):
    sys.stderr = open(os.devnull, "w")
"""
"""What a worker runs first (a Dask worker runs it as its preload script)."""


def sdk_worker_command() -> str:
    """The shell command that starts one of Beam's SDK workers after :data:`SETUP`."""
    code = SETUP + (
        "from apache_beam.runners.worker import sdk_worker_main\nsdk_worker_main.main(sys.argv)\n"
    )
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"
