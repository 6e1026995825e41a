"""Input paths: the local files a path or glob names, checked before a run reads them."""

from __future__ import annotations

import glob
import os

from ..core.errors import ConfigError
from .formats import format_of


def local_inputs(pattern: str) -> list[str]:
    """The local files a path or glob names; none for a URL (``gs://...``): not read here."""
    if "://" in pattern:
        return []
    magic = any(char in pattern for char in "*?[")
    return sorted(glob.glob(pattern)) if magic else [pattern]


def local_files(pattern: str) -> list[str] | None:
    """The local files ``pattern`` matches; ``None`` for a URL (``gs://...``)."""
    if "://" in pattern:
        return None
    return sorted(path for path in glob.glob(pattern) if os.path.isfile(path))


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
