"""The fields an input file's records have, where the file says so before it is read: a CSV
header, a Parquet or Arrow schema, the arrays of an ``.npz`` (an ``.npy`` is one array, read as
the field ``x``). A JSONL or TFRecord file does not: each record has its own fields.

Checking a spec against these before a run turns a misspelled field into an error that names
the spec's line, instead of a run where every row quietly takes a route's default.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np


def fields_or_none(read: Callable[[str], list[str] | None], path: str) -> list[str] | None:
    """``read(path)``, or ``None`` where the file cannot be read as that format: the run's
    reader then reports the problem, record by record."""
    try:
        return read(path)
    except (OSError, ValueError, EOFError, csv.Error, zipfile.BadZipFile, StopIteration):
        return None
    except Exception as exc:  # pyarrow's errors (ArrowInvalid is a ValueError; others are not)
        if type(exc).__module__.startswith("pyarrow"):
            return None
        raise


def csv_fields(path: str) -> list[str]:
    opener: Any = gzip.open if path.lower().endswith(".gz") else open
    with opener(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        return next(csv.reader(text))


def parquet_fields(path: str) -> list[str]:
    import pyarrow.parquet as pq  # noqa: PLC0415 (pyarrow: lazy)

    return list(pq.read_schema(path).names)


def arrow_fields(path: str) -> list[str]:
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

    try:
        with pa.ipc.open_file(path) as reader:
            return list(reader.schema.names)
    except pa.ArrowInvalid:
        with pa.ipc.open_stream(pa.OSFile(path)) as stream:
            return list(stream.schema.names)


def numpy_fields(path: str) -> list[str] | None:
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            npy = stream.read(6) == b"\x93NUMPY"
        return ["x"] if npy else None  # an .npy is one array, which the reader names x
    with np.load(path, allow_pickle=False) as archive:
        return list(archive.files)
