"""Numpy input files: the arrays of a ``.npy`` or ``.npz`` file, checked to be rows.

A file that cannot be read (corrupt, truncated, arrays of Python objects, which only pickle
loads), a single value (a 0-d array) or arrays of unequal lengths is refused with an
:class:`~infergraph.InputError` naming the file: no record is cut off or made up.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Any

import numpy as np

from ..core.errors import InputError


def numpy_columns(data: bytes, name: str) -> dict[str, np.ndarray[Any, Any]]:
    """The arrays of a ``.npy`` file (one column, ``x``) or of an ``.npz`` file, by name.

    Raises:
        InputError: naming the file, when it is not a numpy file or holds Python objects.
    """

    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        return dict(loaded.items()) if hasattr(loaded, "files") else {"x": loaded}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        if "Object arrays" in str(exc):
            problem = (
                "it holds an array of Python objects, which only pickle can load, and input "
                "files are not unpickled (unsafe); save numbers or strings instead"
            )
        else:
            problem = f"{exc}; check that it is a whole .npy or .npz file"
        raise InputError(f"{name}: cannot be read as numpy: {problem}") from exc


def numpy_rows(columns: dict[str, np.ndarray[Any, Any]], name: str) -> int:
    """The records of a numpy file's arrays: the length of each, which must be one.

    Raises:
        InputError: naming the file, for no arrays, a single value, or unequal lengths.
    """
    if not columns:
        raise InputError(f"{name}: holds no arrays; save at least one (np.savez(path, x=rows))")
    single = sorted(k for k, v in columns.items() if v.ndim == 0)
    if single:
        raise InputError(
            f"{name}: {', '.join(single)} is a single value (shape ()), not rows; save an "
            "array with one row per record along its first axis (np.atleast_1d(value))"
        )
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k}: {n} rows" for k, n in lengths.items())
        raise InputError(
            f"{name}: its arrays differ in length ({listed}); each needs one row per record, "
            "so fix the file to give them all the same length"
        )
    return next(iter(lengths.values()))
