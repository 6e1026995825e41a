"""Turning an exception into the one line the command prints, and quieting other libraries.

An error that reaches the command from a Beam pipeline has been rebuilt by Beam as
``type(exc)(message + " [while running '<step>']")`` (or, where that fails, as a
``RuntimeError`` whose message starts with the original class name), with the original as its
``__context__``. :func:`user_error` finds the infergraph error in that chain and strips Beam's
suffix, so the user sees the message infergraph wrote.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from collections.abc import Iterator

from ..core import errors
from ..core.errors import InfergraphError, RunnerError

_BEAM_SUFFIX = re.compile(r"(?: \[while running '.*?'\])+$", re.DOTALL)
# "infergraph.core.errors.ModelLoadError: message" inside a message Beam wrote as text: up to
# the blank line before the next traceback of the text (a worker's, on multi-process runs).
_NAMED = re.compile(
    r"(?:infergraph\.core\.errors\.)?\b([A-Za-z]+Error): (.+?)(?:\n\n|$)", re.DOTALL
)


def user_error(exc: BaseException) -> InfergraphError | None:
    """The infergraph error ``exc`` is or carries (Beam's step suffix removed); else ``None``."""
    for link in _chain(exc):
        if isinstance(link, InfergraphError):
            return type(link)(strip_beam_suffix(str(link)))
    for link in _chain(exc):
        found = _NAMED.search(strip_beam_suffix(str(link)))
        cls = getattr(errors, found.group(1), None) if found else None
        if found and isinstance(cls, type) and issubclass(cls, InfergraphError):
            return cls(strip_beam_suffix(found.group(2).strip()))
    return runner_error(exc)


# What Beam's portable runners say when their job server cannot start, and what to tell the user.
_RUNNER_STARTS = [
    (
        re.compile(
            r"Unable to fetch remote job server jar at (\S+?\.jar).*stage the jar at (\S+)", re.S
        ),
        "the runner's job server could not be downloaded from {0} (is the internet reachable?): "
        "download it to {1}, or pass --job_endpoint of a running job server",
    ),
    (
        re.compile(r"Unable to fetch remote prism binary at (\S+?\.zip)"),
        "the Prism runner could not be downloaded from {0} (is the internet reachable?): pass "
        "--prism_location of a local copy, or use --runner direct",
    ),
    (
        re.compile(r'Unable to parse jar URL "(.+?)"'),
        "the runner's job server jar {0!r} does not exist: pass the path of the jar, or "
        "--job_endpoint of a running job server",
    ),
]
_PROGRAMS = {"java": "Java (a JRE with `java` on the PATH)", "docker": "Docker (`docker`)"}


@contextlib.contextmanager
def runner_failures(runner: str | None, *, local: bool) -> Iterator[None]:
    """Any failure of a runner other than the ``local`` one as one line (a :class:`RunnerError`
    naming the runner), unless it carries an infergraph error: the job server, cluster or
    service it needs is missing or unreachable, or an option it requires is not set. ``-v``
    prints the traceback."""
    try:
        yield
    except Exception as exc:
        if local or interrupted(exc) or user_error(exc) is not None:
            raise
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        cause = " ".join(lines) or "no message"
        raise RunnerError(
            f"the runner {runner!r} failed ({type(exc).__name__}): {cause}; -v shows the traceback"
        ) from exc


def runner_error(exc: BaseException) -> RunnerError | None:
    """What a runner that failed to start lacks, when ``exc`` (or its chain) says so."""
    for link in _chain(exc):
        for pattern, message in _RUNNER_STARTS:
            found = pattern.search(str(link))
            if found:
                return RunnerError(message.format(*found.groups()))
        if isinstance(link, FileNotFoundError):
            program = os.path.basename(str(link.filename or ""))
            if program in _PROGRAMS:
                return RunnerError(f"the runner needs {_PROGRAMS[program]}, which is not installed")
    return None


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``KeyboardInterrupt`` (Ctrl-C), or Beam's rethrow of one."""
    return any(
        isinstance(link, KeyboardInterrupt) or str(link).startswith("KeyboardInterrupt")
        for link in _chain(exc)
    )


def strip_beam_suffix(message: str) -> str:
    """``message`` without the ``[while running '<step>']`` Beam appends on each rethrow."""
    return _BEAM_SUFFIX.sub("", message.rstrip())


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then its causes and contexts, each once."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        link = pending.pop(0)
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        pending += [e for e in (link.__cause__, link.__context__) if e is not None]


class _OnlyInfergraph(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "infergraph" or record.name.startswith("infergraph.")


QUIET_ENVIRONMENT = {
    # TensorFlow's C++ notices (oneDNN, no CUDA driver), in this process and in workers: read
    # when TensorFlow loads (infergraph holds back those TensorFlow logs before reading it).
    "TF_CPP_MIN_LOG_LEVEL": "3",
    # Beam's and Dask's local worker processes keep their output off the terminal (beam/worker.py).
    "INFERGRAPH_QUIET_WORKERS": "1",
}
"""Environment variables set (where not set already) for a run without ``-v``; worker
processes inherit them."""


@contextlib.contextmanager
def quiet_libraries(verbose: int) -> Iterator[None]:
    """Keep other libraries' logs and warnings off the terminal unless ``-v`` is given.

    Without ``-v``, only infergraph's own log messages are shown: Apache Beam logs every failing
    step's traceback at ERROR and notices at WARNING (some on the root logger), its worker
    processes and TensorFlow write to stderr themselves (see :data:`QUIET_ENVIRONMENT`), and
    libraries issue Python warnings that infergraph's own messages already explain. ``-v`` shows
    Python warnings and Beam's warnings and errors, ``-vv`` Beam's INFO logs too. The previous
    settings come back when the block ends.
    """
    root = logging.getLogger()
    beam = logging.getLogger("apache_beam")
    beam_level = beam.level
    only_ours = _OnlyInfergraph()
    handlers = list(root.handlers) if verbose == 0 else []
    for handler in handlers:
        handler.addFilter(only_ours)
    if verbose:
        beam.setLevel(logging.WARNING if verbose == 1 else logging.INFO)
    try:
        with warnings.catch_warnings(), _environment({} if verbose else QUIET_ENVIRONMENT):
            if verbose == 0:
                warnings.simplefilter("ignore")
            yield
    finally:
        beam.setLevel(beam_level)
        for handler in handlers:
            handler.removeFilter(only_ours)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` set in ``os.environ`` where not set already, removed at the end."""
    added = [name for name in values if name not in os.environ]
    os.environ.update({name: values[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)
