"""What the pipeline commands (``run``, ``predict``) share: paths, runner options, exit status."""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from ..core.errors import ConfigError
from .display import local_files

RUNNERS = {
    "dask": "infergraph.beam.dask_runner.DaskRunner",
    "DaskRunner": "infergraph.beam.dask_runner.DaskRunner",
}
"""Runners by a short name (Dask: infergraph's fix of Beam's Dask runner, beam/dask_runner.py)."""


EXTENSIONS = {
    "jsonl": (".jsonl", ".json", ".ndjson"),
    "csv": (".csv",),
    "tfrecord": (".tfrecord", ".tfrecords"),
    "parquet": (".parquet", ".pq"),
    "arrow": (".arrow", ".feather", ".ipc"),
    "numpy": (".npy", ".npz"),
}
"""Input formats by file extension (a ``.gz`` suffix is read through: Beam decompresses it)."""


def format_of(path: str) -> str | None:
    """The input format ``path`` (a file or a glob) names by its extension; ``None`` if none."""
    lowered = path.lower().removesuffix(".gz")
    for kind, endings in EXTENSIONS.items():
        if lowered.endswith(endings):
            return kind
    return None


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


def failures_path(output: str) -> str:
    """The default failures file for an output: its name with ``.failures.jsonl``."""
    for suffix in (".jsonl", ".json", ".tfrecord"):
        if output.endswith(suffix):
            return output[: -len(suffix)] + ".failures.jsonl"
    return output + ".failures.jsonl"


def check_input(pattern: str) -> None:
    """Refuse an input that matches no file (a local path or glob; URLs are not checked).

    Raises:
        ConfigError: naming the input, and the glob to pass for a directory.
    """
    if local_files(pattern) != []:
        return
    if os.path.isdir(pattern):
        example = os.path.join(pattern, "*" + (_example_extension(pattern)))
        raise ConfigError(
            f"input {pattern!r} is a directory; pass a glob of the files in it, such as "
            f"{example!r} (quoted, so that the shell does not expand it)"
        )
    raise ConfigError(f"input {pattern!r} not found (no file matches it)")


def _example_extension(directory: str) -> str:
    """The extension of the first input-format file in ``directory`` (``.jsonl`` if none)."""
    for name in sorted(os.listdir(directory)):
        if format_of(name) is not None:
            return name[name.index(".") :] if "." in name else ".jsonl"
    return ".jsonl"


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
    from apache_beam.options.pipeline_options import (
        DirectOptions,
        PipelineOptions,
        StandardOptions,
    )

    from ..beam.local_runner import DIRECT_NAMES

    options = PipelineOptions(list(pipeline_args))
    if options.view_as(DirectOptions).direct_running_mode == "multi_processing":
        return False
    name = (options.view_as(StandardOptions).runner or "DirectRunner").lower()
    return name in DIRECT_NAMES | {"bundlebaseddirectrunner", "fnapirunner", "localrunner"} or (
        name.endswith(".localrunner")
    )
