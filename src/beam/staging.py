"""Outputs of part files published whole: a run's parts appear when it succeeds, replacing the
parts of the run before.

Parquet and PredictionLog outputs are sets of part files (``<path>-<part>.parquet``,
``<path>-00000-of-00002``) that a glob reads together. A run writes each output's parts into a
staging directory beside it (``.infergraph-staging-<run>-<name>/``); when the run succeeds, the
output's earlier parts are deleted and the new ones moved in place; when it fails or is
interrupted, the staging directory is removed and the earlier parts stay as they were. So a
rerun never adds its rows to those of the run before, and an interrupted run leaves no parts of
its own. (A JSONL output is one file, which Beam itself writes in a temporary place and moves
in place at the end.)
"""

from __future__ import annotations

import glob
import re
import shutil
import uuid
from dataclasses import replace
from typing import Any

from apache_beam.io.filesystems import FileSystems

STAGING = ".infergraph-staging-"
"""The start of a staging directory's name (a hidden directory beside the output)."""


def run_id() -> str:
    """A new run's id, which names its staging directories."""
    return uuid.uuid4().hex[:12]


def stage(sink: Any, run: str) -> Any:
    """``sink`` writing its parts into the staging directory of ``run`` (itself if it writes one
    file, not parts)."""
    if part_pattern(sink) is None:
        return sink
    directory, name = FileSystems.split(sink.path)
    return replace(sink, path=FileSystems.join(directory, f"{STAGING}{run}-{name}", name))


def publish(staged: Any, final: Any) -> None:
    """Replace the parts of ``final`` with those ``staged`` wrote, and remove its staging
    directory."""
    pattern = part_pattern(final)
    if pattern is None or staged is final:
        return
    new = parts(staged.path, pattern)
    old = [path for path in parts(final.path, pattern) if path not in new]
    if old:
        FileSystems.delete(old)
    directory, name = FileSystems.split(final.path)
    staged_name = FileSystems.split(staged.path)[1]
    targets = [
        FileSystems.join(directory, name + FileSystems.split(path)[1][len(staged_name) :])
        for path in new
    ]
    if new:
        FileSystems.rename(new, targets)
    discard(staged)


def published_path(path: str) -> str:
    """The output a staged ``path`` is published as (``path`` itself if it is not staged)."""
    directory, name = FileSystems.split(path)
    parent, folder = FileSystems.split(directory)
    return FileSystems.join(parent, name) if folder.startswith(STAGING) else path


def discard(staged: Any) -> None:
    """Remove the staging directory of a staged sink (after a failed or interrupted run)."""
    if part_pattern(staged) is None or STAGING not in staged.path:
        return
    directory = FileSystems.split(staged.path)[0]
    if "://" not in directory:
        shutil.rmtree(directory, ignore_errors=True)
        return
    # an object store has no directories: delete the objects under the prefix
    found = FileSystems.match([FileSystems.join(directory, "**")])[0].metadata_list
    if found:
        FileSystems.delete([meta.path for meta in found])


def parts(path: str, pattern: str) -> list[str]:
    """The part files of the output ``path``: ``path`` followed by ``pattern`` (a regex)."""
    prefix = path if "://" in path else glob.escape(path)
    name = FileSystems.split(path)[1]
    found = FileSystems.match([prefix + "-*"])[0].metadata_list
    return sorted(
        meta.path
        for meta in found
        if re.fullmatch(re.escape(name) + pattern, FileSystems.split(meta.path)[1])
    )


def part_pattern(sink: Any) -> str | None:
    """The regex that the name of a part of ``sink``'s output matches after the output's name
    (``None``: the sink writes one file)."""
    pattern = getattr(sink, "PARTS", None)
    return pattern if isinstance(pattern, str) else None
