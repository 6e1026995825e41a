"""How many records an input file holds, read cheaply (for the progress bar's total).

Each function counts one format; :mod:`.formats` names which one a format uses.
"""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.errors import InputError
from .npfiles import numpy_rows


def count_or_none(count: Callable[[str], int], path: str) -> int | None:
    """``count(path)``; ``None`` (an unknown total) for a file that cannot be counted: the run
    itself then names the file and what is wrong with it."""
    try:
        return count(path)
    except (InputError, OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile, zlib.error):
        return None


def parquet_rows(path: str) -> int:
    """The rows a Parquet file's metadata states."""
    import pyarrow.parquet as pq  # noqa: PLC0415 (pyarrow: lazy)

    return int(pq.ParquetFile(path).metadata.num_rows)


def arrow_rows(path: str) -> int:
    """The rows of an Arrow IPC file or stream."""
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

    with open(path, "rb") as stream:
        data = pa.py_buffer(stream.read())
    try:
        return int(pa.ipc.open_file(data).read_all().num_rows)
    except pa.ArrowInvalid:
        return int(pa.ipc.open_stream(data).read_all().num_rows)


def numpy_file_rows(path: str) -> int:
    """The rows of an ``.npy`` or ``.npz`` file (its arrays memory-mapped, not read)."""
    loaded = np.load(path, mmap_mode="r", allow_pickle=False)
    arrays = dict(loaded.items()) if hasattr(loaded, "files") else {"x": loaded}
    return numpy_rows(arrays, path)


def tfrecord_records(path: str) -> int:
    """The records of a TFRecord file, by their length headers (data not read)."""
    count = 0
    with _open(path) as stream:
        while header := stream.read(12):
            if len(header) < 12:
                break
            stream.seek(int.from_bytes(header[:8], "little") + 4, os.SEEK_CUR)
            count += 1
    return count


def lines(path: str) -> int:
    """The non-blank lines of a text file."""
    with _open(path) as stream:
        return sum(1 for line in stream if line.strip())


def csv_rows(path: str) -> int:
    """The rows of a CSV file below its header."""
    return max(lines(path) - 1, 0)


def _open(path: str) -> Any:
    opener: Any = gzip.open if path.endswith(".gz") else open  # Beam reads .gz decompressed
    return opener(path, "rb")
