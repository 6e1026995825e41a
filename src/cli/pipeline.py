"""What the pipeline commands (``run``, ``predict``) share: paths, runner options, exit status."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import glob
import importlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from ..core.errors import ConfigError, MissingDependencyError, RunnerError
from ..io.paths import local_files

RUNNERS = {
    "dask": "infergraph.beam.dask_runner.DaskRunner",
    "DaskRunner": "infergraph.beam.dask_runner.DaskRunner",
}
"""Runners by a short name (Dask: infergraph's fix of Beam's Dask runner, beam/dask_runner.py)."""

RUNNER_EXTRAS = {"dask": ("dask", "dask")}
"""The pip extra that installs a runner's dependency, by a word of the runner's class path."""


def beam_args(pipeline_args: Sequence[str], command_options: Sequence[str]) -> list[str]:
    """``pipeline_args`` checked, with a short runner name (``dask``) replaced by its class.

    The runner must be one Beam knows (by name) or an importable ``module.Class``; every other
    argument must be an option of Beam's ``PipelineOptions`` (Beam would ignore the rest).

    Raises:
        ConfigError: an unknown runner or option, naming the close matches among
            ``command_options`` (see :func:`own_options`) and Beam's options.
        MissingDependencyError: the runner's package is not installed.
    """
    args = list(pipeline_args)
    runner = _runner_arg(args)
    if runner is not None:
        check_runner(runner)
        if runner in RUNNERS:
            args.append(f"--runner={RUNNERS[runner]}")
    _check_options(args, command_options)
    return args


def runner_of(pipeline_args: Sequence[str]) -> tuple[str | None, bool]:
    """The runner ``pipeline_args`` name, and whether it is the local one (the DirectRunner)."""
    from apache_beam.options.pipeline_options import PipelineOptions  # noqa: PLC0415 (Beam: lazy)

    from ..beam.local_runner import local_runner  # noqa: PLC0415 (Beam: lazy)

    local = local_runner(PipelineOptions(list(pipeline_args))) is not None
    return _runner_arg(pipeline_args), local


def own_options(parser: argparse.ArgumentParser) -> list[str]:
    """The options a (sub)command's parser takes, for the hints of :func:`beam_args`."""
    return [s for action in parser._actions for s in action.option_strings]


def runner_names() -> list[str]:
    """The runners ``--runner`` takes by name (a ``module.Class`` path works too)."""
    from apache_beam.options.pipeline_options import StandardOptions  # noqa: PLC0415 (Beam: lazy)

    beam = [n for n in StandardOptions.KNOWN_RUNNER_NAMES if not n.startswith("Test")]
    return ["direct", "dask", *beam]


def check_runner(name: str) -> None:
    """Refuse a runner Beam cannot create, before the pipeline is built.

    Raises:
        ConfigError: no runner has that name, or its module or class does not exist.
        MissingDependencyError: the runner's module needs a package that is not installed.
        RunnerError: the runner's module fails to import.
    """
    path = _runner_path(RUNNERS.get(name, name))
    module, _, cls = path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), cls, None)
    except ImportError as exc:
        if exc.name and module.startswith(exc.name):
            _unknown_runner(name)
        raise _missing_runner_dependency(path, exc) from exc
    except Exception as exc:  # a runner module that breaks on import (Beam's InteractiveRunner)
        raise RunnerError(
            f"the runner {path!r} could not be loaded ({type(exc).__name__}: {exc}); -v shows "
            "the traceback"
        ) from exc
    if not isinstance(found, type):
        _unknown_runner(name)


def _runner_path(name: str) -> str:
    if "." in name:
        return name
    from apache_beam.options.pipeline_options import StandardOptions  # noqa: PLC0415 (Beam: lazy)

    known = {p.rsplit(".", 1)[-1].lower(): p for p in StandardOptions.ALL_KNOWN_RUNNERS}
    path = known.get(name.lower()) or known.get(name.lower() + "runner")
    if path is None:
        _unknown_runner(name)
    return path


def _unknown_runner(name: str) -> NoReturn:
    names = runner_names()
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(
        f"unknown runner {name!r}{hint}; use one of {', '.join(names)}, or the path of a Beam "
        "PipelineRunner class (package.module.Class)"
    )


def _missing_runner_dependency(path: str, exc: ImportError) -> MissingDependencyError:
    for word, (package, extra) in RUNNER_EXTRAS.items():
        if word in path.lower():
            return MissingDependencyError.for_extra(package, extra, f"the runner {path!r}")
    package = (exc.name or "").partition(".")[0] or "its dependencies"
    return MissingDependencyError(
        f"the runner {path!r} needs the {package!r} package, which is not installed; install "
        "it (pip install ...), or choose another --runner",
        package=package,
    )


def _runner_arg(args: Sequence[str]) -> str | None:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--runner")
    known, _ = parser.parse_known_args(list(args))
    return known.runner  # type: ignore[no-any-return]


def _check_options(args: Sequence[str], command_options: Sequence[str]) -> None:
    parser = _beam_parser(dask=any(arg.startswith("--dask") for arg in args))
    try:
        _, unknown = parser.parse_known_args(list(args))
    except argparse.ArgumentError as exc:
        raise ConfigError(f"a Beam pipeline option: {exc}") from None
    if not unknown:
        return
    flag = unknown[0].partition("=")[0]
    if not flag.startswith("-"):
        raise ConfigError(f"unexpected argument {unknown[0]!r}; options start with --")
    known = [*command_options, *own_options(parser)]
    close = difflib.get_close_matches(flag, known, n=1, cutoff=0.7)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"unknown option {flag!r}: it is neither an option of this command nor a Beam pipeline "
        f"option (see --help, and Beam's PipelineOptions){hint}"
    )


def _beam_parser(*, dask: bool) -> argparse.ArgumentParser:
    """Beam's parser of every option of the ``PipelineOptions`` subclasses loaded now, and of
    Beam's ``DaskOptions`` with ``dask`` (its module imports dask: a third of a second)."""
    from apache_beam.options.pipeline_options import (  # noqa: PLC0415 (Beam: lazy)
        PipelineOptions,
        _BeamArgumentParser,
    )

    if dask:
        with contextlib.suppress(ImportError):
            importlib.import_module("apache_beam.runners.dask.dask_runner")
    parser: argparse.ArgumentParser = _BeamArgumentParser(
        add_help=False, allow_abbrev=False, conflict_handler="resolve", exit_on_error=False
    )
    for cls in _subclasses(PipelineOptions):
        cls._add_argparse_args(parser)
    return parser


def _subclasses(cls: type[Any]) -> Iterator[type[Any]]:
    sub: type[Any]
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def runner_args(name: str, options: dict[str, Any]) -> list[str]:
    """Beam command-line options for a runner and its pipeline options."""
    args = [f"--runner={RUNNERS.get(name, name)}"]
    for key, value in options.items():
        if value is True:
            args.append(f"--{key}")
        elif isinstance(value, list):
            args += [f"--{key}={item}" for item in value]
        elif value is not None and value is not False:
            args.append(f"--{key}={value}")
    return args


def check_paths(
    inputs: Sequence[str],
    outputs: Sequence[str],
    failures: str,
    reads: Sequence[tuple[str, str]] = (),
) -> None:
    """Refuse a run that would overwrite a file it reads or write two outputs to one file, or
    write an output through a symbolic link or over something other than a regular file.

    Args:
        inputs: The input paths or globs.
        outputs: The output paths (a Parquet or PredictionLog output: the prefix of its parts).
        failures: The failures file.
        reads: Other files (or directories) the run reads, each with what it is (``("spec.yaml",
            "the spec")``): the spec, model files, adapter modules.

    Raises:
        ConfigError: naming the paths, and what to do.
    """
    read = [(pattern, "an input file") for pattern in inputs] + list(reads)
    seen: dict[str, str] = {}
    for role, path in [*(("output", p) for p in outputs), ("failures", failures)]:
        _check_writable(role, path)
        _check_regular(role, path)
        real = _real(path)
        if real in seen:
            raise ConfigError(
                f"the {role} file {path!r} is also the {seen[real]} file; give each its own path"
            )
        seen[real] = role
        for pattern, what in read:
            hit = _overwritten(path, pattern)
            if hit == real:
                raise ConfigError(
                    f"the {role} file {path!r} is {what}, which the run reads: writing it would "
                    "overwrite it; choose another path"
                )
            if hit is not None:
                raise ConfigError(
                    f"the {role} {path!r} would replace its earlier part {hit!r}, {what}, which "
                    "the run reads; choose another path"
                )


def _overwritten(output: str, pattern: str) -> str | None:
    """The file that ``pattern`` (a path, glob or directory) names and writing ``output`` (the
    file, or its earlier parts ``<output>-*``, which a run replaces) would overwrite; ``None``
    if none."""
    if "://" in output:
        return _real(output) if _real(output) == _real(pattern) else None
    parts = sorted(_real(p) for p in glob.glob(glob.escape(output) + "-*"))
    written = [_real(output), *parts]
    if os.path.isdir(pattern):
        inside = os.path.join(_real(pattern), "")
        return next((path for path in written if path.startswith(inside)), None)
    read = {_real(p) for p in (local_files(pattern) or [pattern])}
    return next((path for path in written if path in read), None)


def _check_regular(role: str, path: str) -> None:
    """Refuse a local output that is a symbolic link (Beam would replace the link with a file and
    leave its target as it was) or exists as anything but a regular file."""
    if "://" in path:
        return
    if os.path.islink(path):
        raise ConfigError(
            f"the {role} file {path!r} is a symbolic link (to {os.readlink(path)!r}); outputs "
            "are not written through links: name the file itself, or another path"
        )
    if os.path.exists(path) and not os.path.isfile(path):
        kind = "a directory" if os.path.isdir(path) else "not a regular file"
        raise ConfigError(
            f"the {role} file {path!r} is {kind}; outputs are written to regular files only: "
            "choose another path"
        )


def exit_status(elements: int, failed: int, any_failed: int, args: argparse.Namespace) -> int:
    """1 when every input failed, or any did with ``--fail-on-failures``; else 0."""
    if elements and failed == elements:
        return 1
    if args.fail_on_failures and any_failed:
        return 1
    return 0


def _check_writable(role: str, path: str) -> None:
    """Refuse a local output whose directory cannot be made or written to, before the run
    (Beam would fail at its end, with a traceback)."""
    if "://" in path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        blocked = next(
            (p for p in _parents(directory) if os.path.exists(p) and not os.path.isdir(p)), None
        )
        reason = f"{blocked!r} is a file, not a directory" if blocked else exc.strerror or exc
        raise ConfigError(
            f"cannot write the {role} file {path!r} in {directory!r}: {reason}; choose another path"
        ) from exc


def _parents(directory: str) -> list[str]:
    parents = [directory]
    while os.path.dirname(parents[-1]) != parents[-1]:
        parents.append(os.path.dirname(parents[-1]))
    return parents


def _real(path: str) -> str:
    return path if "://" in path else os.path.realpath(path)


def runs_locally(pipeline_args: Sequence[str]) -> bool:
    """Whether the run executes in this process, where the progress counter is seen."""
    from apache_beam.options.pipeline_options import (  # noqa: PLC0415 (Beam: lazy)
        DirectOptions,
        PipelineOptions,
        StandardOptions,
    )

    from ..beam.local_runner import DIRECT_NAMES  # noqa: PLC0415 (Beam: lazy)

    options = PipelineOptions(list(pipeline_args))
    if options.view_as(DirectOptions).direct_running_mode == "multi_processing":
        return False
    name = (options.view_as(StandardOptions).runner or "DirectRunner").lower()
    return name in DIRECT_NAMES | {"bundlebaseddirectrunner", "fnapirunner", "localrunner"} or (
        name.endswith(".localrunner")
    )
