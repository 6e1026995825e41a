"""Reading files as blocks: Parquet, Arrow, CSV, TFRecords of tf.Example and numpy arrays.

A columnar source yields :class:`~infergraph.Block` elements of at most ``block_rows`` rows, each
holding its rows' keys (from ``key_field``) beside their data, so keys survive every node
without per-row Python work. The data is a dict of columns (a fixed-size list column, or a
tf.Example feature of fixed length, becomes a 2-D array), or the one column ``input_field``
names. Memory stays bounded by the block size: files are read a block at a time.

Rows that cannot be read (a CSV row with the wrong number of values, a corrupt TFRecord) become
:class:`~infergraph.Failure` records naming the file and line or record, as the row readers do.
"""

from __future__ import annotations

import csv
import io
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

import numpy as np

from ..core.blocks import Block
from ..core.errors import InputError
from ..core.results import Failure
from ..core.tfexample import feature_scalar, parse_example
from .cells import CsvColumns, input_failure, odd_feature_rows, odd_list_rows
from .npfiles import numpy_columns, numpy_rows
from .tfrecord import read_records

ColumnarFormat = Literal["parquet", "arrow", "csv", "tfrecord", "numpy"]


@dataclass(frozen=True)
class BlockSource:
    """How to read one format into blocks.

    Attributes:
        format: parquet, arrow (IPC file or stream), csv, tfrecord or numpy (.npy or .npz).
        key_field: The column (feature, npz array) holding each row's key.
        input_field: Pass this column as the block's data instead of a dict of the others.
        block_rows: The most rows in one block.
        example: tfrecord only: ``features`` (columns of feature values) or ``serialized``
            (a column of the records' bytes, for signatures that parse tf.Example).
    """

    format: ColumnarFormat
    key_field: str | None = None
    input_field: str | None = None
    block_rows: int = 10_000
    example: Literal["serialized", "features"] = "features"

    def read(self, stream: BinaryIO, name: str) -> Iterator[Block | Failure]:
        """The blocks (and unreadable rows, as failures) of one file opened as ``stream``."""
        if self.format == "tfrecord":
            yield from self._tfrecord(stream, name)
        elif self.format == "numpy":
            yield from self._numpy(stream, name)
        else:
            yield from self._tables(
                _readable(self._arrow_batches(stream, name), name, self.format), name
            )

    def read_path(self, path: str) -> Iterator[Block | Failure]:
        """The blocks of a local Parquet file, read by Arrow itself (memory-mapped)."""
        batches = prefetched(_parquet_batches(path, self.block_rows))
        yield from self._tables(_readable(batches, path, "parquet"), path)

    def _tables(self, batches: Iterator[Any], name: str) -> Iterator[Block | Failure]:
        first_row = 1
        for table in _rebatch(batches, self.block_rows):
            if isinstance(table, Failure):
                yield table
                continue
            checked = [self.input_field] if self.input_field else table.column_names
            kept, failures = odd_list_rows(table, name, first_row, checked, self.key_field)
            first_row += table.num_rows
            yield from failures
            if kept.num_rows:
                yield self._block(_table_columns(kept), kept.num_rows, name)

    # -- formats -------------------------------------------------------------------------------

    def _arrow_batches(self, stream: BinaryIO, name: str) -> Iterator[Any]:
        import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

        if self.format == "parquet":
            import pyarrow.parquet as pq  # noqa: PLC0415 (pyarrow: lazy)

            yield from pq.ParquetFile(stream).iter_batches(batch_size=self.block_rows)
        elif self.format == "arrow":
            data = stream.read()
            try:
                reader: Any = pa.ipc.open_file(pa.py_buffer(data))
                for index in range(reader.num_record_batches):
                    yield reader.get_batch(index)
            except pa.ArrowInvalid:
                yield from pa.ipc.open_stream(pa.py_buffer(data))
        else:
            checked = frozenset([self.input_field]) if self.input_field else None
            yield from _csv_batches(stream, CsvColumns(name, checked, self.key_field))

    def _tfrecord(self, stream: BinaryIO, name: str) -> Iterator[Block | Failure]:
        rows: list[dict[str, Any]] = []
        records: list[bytes] = []
        numbers: list[int] = []
        for number, data in read_records(stream):
            if isinstance(data, InputError):
                yield input_failure(f"{name}: {data}", "")
                continue
            serialized = self.example == "serialized"
            try:
                parsed = parse_example(data) if self.key_field or not serialized else {}
                if serialized and self.key_field is not None:
                    parsed = (
                        {self.key_field: parsed[self.key_field]} if self.key_field in parsed else {}
                    )
                    if not parsed:
                        raise InputError(f"no feature {self.key_field!r}")
                elif self.key_field is not None:
                    feature_scalar(parsed, self.key_field)  # one key, as the row reader needs
            except InputError as exc:
                yield input_failure(f"{name}, record {number}: {exc}", "")
                continue
            rows.append(parsed)
            records.append(data)
            numbers.append(number)
            if len(rows) == self.block_rows:
                yield from self._examples_blocks(rows, records, numbers, name)
                rows, records, numbers = [], [], []
        if rows:
            yield from self._examples_blocks(rows, records, numbers, name)

    def _examples_blocks(
        self, rows: list[dict[str, Any]], records: list[bytes], numbers: list[int], name: str
    ) -> Iterator[Block | Failure]:
        """The block of some records' examples; a record that lacks a feature most others have,
        or holds another number of values, fails alone (else it would fail the whole block)."""
        parsed = self.example == "features"
        odd = odd_feature_rows(rows, self._checked_features(rows) if parsed else [])
        for index, row in enumerate(rows):
            if parsed and self.input_field is not None and self.input_field not in row:
                without = sorted(set(row) - {self.key_field})
                odd.setdefault(index, f"no feature {self.input_field!r}; the example has {without}")
        for index, problem in sorted(odd.items()):
            features = dict(rows[index])
            key = feature_scalar(features, self.key_field) if self.key_field else None
            features.pop(self.key_field or "", None)
            message = f"{name}, record {numbers[index]}: {problem}"
            yield input_failure(message, features, key)
        keep = [index for index in range(len(rows)) if index not in odd]
        if keep:
            yield self._examples_block([rows[i] for i in keep], [records[i] for i in keep], name)

    def _checked_features(self, rows: list[dict[str, Any]]) -> list[str]:
        if self.input_field is not None:
            return [self.input_field]
        names = dict.fromkeys(feature for row in rows for feature in row)
        return [feature for feature in names if feature != self.key_field]

    def _examples_block(self, rows: list[dict[str, Any]], records: list[bytes], name: str) -> Block:
        features = dict.fromkeys(feature for row in rows for feature in row)
        columns = {
            feature: _feature_column([row.get(feature, []) for row in rows]) for feature in features
        }
        if self.example == "serialized":
            serialized = np.empty(len(records), dtype=object)
            serialized[:] = records
            keys = _keys(columns[self.key_field]) if self.key_field is not None else None
            return Block(serialized, keys)
        return self._block(columns, len(rows), name)

    def _numpy(self, stream: BinaryIO, name: str) -> Iterator[Block]:
        columns = numpy_columns(stream.read(), name)
        rows = numpy_rows(columns, name)
        for start in range(0, rows, self.block_rows):
            stop = min(start + self.block_rows, rows)
            yield self._block({k: v[start:stop] for k, v in columns.items()}, stop - start, name)

    # -- helpers -------------------------------------------------------------------------------

    def _block(self, columns: dict[str, Any], rows: int, name: str) -> Block:
        keys = None
        if self.key_field is not None:
            if self.key_field not in columns:
                raise InputError(
                    f"{name}: no key column {self.key_field!r}; the columns are {sorted(columns)}"
                )
            keys = _keys(columns.pop(self.key_field))
        if self.input_field is not None:
            if self.input_field not in columns:
                raise InputError(
                    f"{name}: no column {self.input_field!r}; the columns are {sorted(columns)}"
                )
            return _named_block(columns[self.input_field], keys, name)
        return _named_block(columns, keys, name)


def _named_block(data: Any, keys: Any, name: str) -> Block:
    """A block of a file's rows; a block that cannot be made names the file."""
    try:
        return Block(data, keys)
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from exc


def _feature_column(values: list[Any]) -> np.ndarray[Any, Any]:
    """One tf.Example feature of many rows: (rows, length) for fixed-length numeric lists, a
    column of values for one bytes value per row, else an object column."""
    if all(isinstance(v, list) for v in values):
        if all(len(v) == 1 for v in values):
            return np.array([v[0] for v in values])
    elif len({len(v) for v in values}) == 1:
        return np.stack(values)
    column = np.empty(len(values), dtype=object)
    column[:] = [np.asarray(v) if not isinstance(v, list) else v for v in values]
    return column


def prefetched(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``items``, read ahead by a thread (up to ``depth`` items): the next ones are decoded while
    the consumer works on the current one. An error of the reading thread is raised here."""
    done = object()
    ahead: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ahead.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ahead.put(done)
        except BaseException as exc:  # handed over to the consumer
            ahead.put(exc)

    thread = threading.Thread(target=read, name="infergraph-read-ahead", daemon=True)
    thread.start()
    try:
        while (item := ahead.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _keys(column: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A key column as numpy: text as unicode, bytes decoded where they are UTF-8."""
    if column.dtype.kind == "S":
        try:
            return np.char.decode(column, "utf-8")
        except UnicodeDecodeError:
            return column
    if column.dtype.kind == "O" and len(column) and all(isinstance(k, str) for k in column):
        return column.astype(str)
    return column


def _table_columns(table: Any) -> dict[str, Any]:
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

    columns: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        chunk = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        kind = chunk.type
        if pa.types.is_fixed_size_list(kind) and chunk.null_count == 0:
            flat = chunk.flatten().to_numpy(zero_copy_only=False)
            columns[name] = flat.reshape(len(chunk), kind.list_size)
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            lengths = set(chunk.value_lengths().to_pylist())
            if len(lengths) == 1 and chunk.null_count == 0:
                flat = chunk.flatten().to_numpy(zero_copy_only=False)
                columns[name] = flat.reshape(len(chunk), lengths.pop())
            else:
                columns[name] = np.array(chunk.to_pylist(), dtype=object)
        else:
            columns[name] = chunk.to_numpy(zero_copy_only=False)
    return columns


def _parquet_batches(path: str, rows: int) -> Iterator[Any]:
    import pyarrow.parquet as pq  # noqa: PLC0415 (pyarrow: lazy)

    yield from pq.ParquetFile(path, memory_map=True).iter_batches(batch_size=rows)


_KIND_NAMES = {"parquet": "Parquet", "arrow": "Arrow (an IPC file or stream)", "csv": "CSV"}


def _readable(batches: Iterator[Any], name: str, kind: str) -> Iterator[Any]:
    """``batches``; Arrow's error for a file it cannot read becomes an InputError naming it."""
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

    try:
        yield from batches
    except (pa.ArrowException, OSError) as exc:
        what = _KIND_NAMES.get(kind, kind)
        raise InputError(
            f"{name}: cannot be read as {what}: {exc}; check that it is a whole {what} file"
        ) from exc


def _rebatch(batches: Iterator[Any], rows: int) -> Iterator[Any]:
    """Record batches (and failures) as tables of ``rows`` rows (the last one smaller)."""
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)

    pending: list[Any] = []
    held = 0
    for batch in batches:
        if isinstance(batch, Failure):
            yield batch
            continue
        if pending and batch.schema != pending[0].schema:  # a column typed anew (int, float)
            yield pa.Table.from_batches(pending)
            pending, held = [], 0
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def _csv_batches(stream: BinaryIO, columns: CsvColumns) -> Iterator[Any]:
    """A CSV file's record batches, read as text and typed by ``columns`` (a bad cell fails
    its row only), and its unreadable rows as failures."""
    import pyarrow as pa  # noqa: PLC0415 (pyarrow: lazy)
    import pyarrow.csv as pcsv  # noqa: PLC0415 (pyarrow: lazy)

    name = columns.name
    bad: list[Failure] = []

    def invalid(row: Any) -> str:
        bad.append(
            input_failure(
                f"{name}, line {row.number}: {row.actual_columns} values for "
                f"{row.expected_columns} columns",
                row.text,
            )
        )
        return "skip"

    header, head = _csv_header(stream, name)
    if not header:  # no header, no records: as the row reader
        return
    try:
        reader = pcsv.open_csv(
            _Readable(stream, head),
            read_options=pcsv.ReadOptions(block_size=1 << 22, use_threads=False),
            parse_options=pcsv.ParseOptions(invalid_row_handler=invalid),
            convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(header, pa.binary())),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(f"{name}: cannot be read as CSV: {exc}") from exc
    read = 0  # rows read whole (rows with the wrong number of values are named by line)
    for batch in reader:
        yield from bad
        bad.clear()
        table, failures = columns.typed(batch, read + 1)
        read += batch.num_rows
        yield from failures
        yield from table.to_batches()
    yield from bad


def _csv_header(stream: BinaryIO, name: str) -> tuple[list[str], bytes]:
    """The column names of a CSV stream's header (blank lines before it skipped), and the bytes
    read to find them, which Arrow reads again."""
    head = b""
    while line := stream.readline():
        head += line
        if head.strip() and head.count(b'"') % 2 == 0:  # not inside a quoted name
            break
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: the header is not valid UTF-8 (byte {exc.start + 1}); fix the file"
        ) from exc
    return next(csv.reader(io.StringIO(text.strip())), []), head


class _Readable:
    """A binary stream as Arrow reads one. Beam's decompressing stream (a ``.gz`` input) has a
    ``closed`` method where Arrow expects a flag, and would be taken for a closed file."""

    def __init__(self, stream: BinaryIO, head: bytes = b"") -> None:
        self._stream = stream
        self._head = head  # read already (to find the header): read first
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(size)
        if size < 0:
            data, self._head = self._head + self._stream.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

