"""Columnar readers: blocks with a key per row, bounded by the block size, bad rows as failures."""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infergraph import Block, Failure, InputError
from infergraph.core.tfexample import make_example
from infergraph.io.columnar import BlockSource, prefetched
from infergraph.io.tfrecord import write_record

ROWS = 25
KEYS = [f"k{i}" for i in range(ROWS)]
X = np.arange(ROWS * 3, dtype=np.float32).reshape(ROWS, 3)


def table() -> pa.Table:
    x = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 3)
    return pa.table({"key": KEYS, "x": x, "n": np.arange(ROWS)})


def read(source: BlockSource, data: bytes) -> list[Any]:
    return list(source.read(io.BytesIO(data), "in"))


def blocks_of(results: list[Any]) -> list[Block]:
    return [r for r in results if isinstance(r, Block)]


def check(blocks: list[Block], field: str = "x") -> None:
    assert [b.rows for b in blocks] == [10, 10, 5]  # block_rows bounds each block
    keys = np.concatenate([b.keys for b in blocks])
    assert keys.tolist() == KEYS
    x = np.concatenate([b.data[field] if isinstance(b.data, dict) else b.data for b in blocks])
    np.testing.assert_array_equal(x, X)


def test_parquet() -> None:
    sink = io.BytesIO()
    pq.write_table(table(), sink, row_group_size=7)
    results = read(BlockSource("parquet", key_field="key", block_rows=10), sink.getvalue())
    check(blocks_of(results))
    assert set(results[0].data) == {"x", "n"}
    only_x = read(BlockSource("parquet", "key", input_field="x", block_rows=10), sink.getvalue())
    check(blocks_of(only_x))


@pytest.mark.parametrize("kind", ["file", "stream"])
def test_arrow(kind: str) -> None:
    sink = io.BytesIO()
    t = table()
    opener = pa.ipc.new_file if kind == "file" else pa.ipc.new_stream
    with opener(sink, t.schema) as writer:
        for batch in t.to_batches(max_chunksize=4):
            writer.write_batch(batch)
    check(blocks_of(read(BlockSource("arrow", key_field="key", block_rows=10), sink.getvalue())))


def test_csv_with_a_bad_row() -> None:
    lines = ["key,a,b,c"] + [f"{k},{r[0]},{r[1]},{r[2]}" for k, r in zip(KEYS, X, strict=True)]
    lines.insert(5, "broken,1")
    results = read(BlockSource("csv", key_field="key", block_rows=10), "\n".join(lines).encode())
    failures = [r for r in results if isinstance(r, Failure)]
    assert [f.message for f in failures] == ["in, line 6: 2 values for 4 columns"]
    blocks = blocks_of(results)
    stacked = [np.stack([b.data["a"], b.data["b"], b.data["c"]], axis=1) for b in blocks]
    assert np.concatenate([b.keys for b in blocks]).tolist() == KEYS
    np.testing.assert_array_equal(np.concatenate(stacked), X)


def test_csv_from_a_gzip_file_as_beam_opens_it(tmp_path: Any) -> None:
    import gzip

    from apache_beam.io.filesystems import FileSystems

    path = tmp_path / "in.csv.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(b"key,x\na,1.5\nb,2.5\nc\n")
    with FileSystems.open(str(path)) as stream:  # decompressed as it is read
        results = list(BlockSource("csv", key_field="key").read(stream, str(path)))
    (block,) = blocks_of(results)
    assert block.keys.tolist() == ["a", "b"] and block.data["x"].tolist() == [1.5, 2.5]
    assert [r.message for r in results if isinstance(r, Failure)] == [
        f"{path}, line 4: 1 values for 2 columns"
    ]


def test_an_empty_csv_file_has_no_records() -> None:
    assert read(BlockSource("csv", key_field="key"), b"") == []
    assert read(BlockSource("csv", key_field="key"), b"key,x\n") == []


def test_tfrecord_in_chunks() -> None:
    stream = io.BytesIO()
    for key, row in zip(KEYS, X, strict=True):
        write_record(stream, make_example({"key": key, "x": row}))
    write_record(stream, b"\x00 not an example")
    results = read(BlockSource("tfrecord", key_field="key", block_rows=10), stream.getvalue())
    check(blocks_of(results))
    (failure,) = [r for r in results if isinstance(r, Failure)]
    assert failure.message.startswith("in, record 26: not a serialized tf.train.Example")


def test_numpy_npz_and_npy() -> None:
    sink = io.BytesIO()
    np.savez(sink, key=np.array(KEYS), x=X)
    check(blocks_of(read(BlockSource("numpy", key_field="key", block_rows=10), sink.getvalue())))
    sink = io.BytesIO()
    np.save(sink, X)
    blocks = blocks_of(read(BlockSource("numpy", block_rows=10), sink.getvalue()))
    assert [b.keys for b in blocks] == [None, None, None]
    np.testing.assert_array_equal(np.concatenate([b.data["x"] for b in blocks]), X)


def test_a_missing_key_column_names_the_columns() -> None:
    sink = io.BytesIO()
    pq.write_table(table(), sink)
    expected = r"no key column 'id'; the columns are \['key', 'n', 'x'\]"
    with pytest.raises(InputError, match=expected):
        read(BlockSource("parquet", key_field="id"), sink.getvalue())


def test_read_ahead_keeps_order_and_raises_the_readers_error() -> None:
    assert list(prefetched(iter(range(100)))) == list(range(100))

    def broken() -> Any:
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetched(broken()))
    stream = prefetched(iter(range(10**6)))
    assert next(stream) == 0
    stream.close()  # the reader stops; nothing hangs


def npz(**arrays: Any) -> bytes:
    sink = io.BytesIO()
    np.savez(sink, **arrays)
    return sink.getvalue()


def npy(array: Any) -> bytes:
    sink = io.BytesIO()
    np.save(sink, array, allow_pickle=True)
    return sink.getvalue()


@pytest.mark.parametrize("first", ["key", "x"])
def test_npz_arrays_of_unequal_lengths_are_refused_in_either_order(first: str) -> None:
    arrays = {"key": np.array(["a", "b", "c"]), "x": np.zeros((5, 1), np.float32)}
    data = npz(**dict(sorted(arrays.items(), key=lambda item: item[0] != first)))
    expected = "in: its arrays differ in length (key: 3 rows, x: 5 rows)"
    if first == "x":
        expected = "in: its arrays differ in length (x: 5 rows, key: 3 rows)"
    with pytest.raises(InputError, match=re.escape(expected)):
        read(BlockSource("numpy", key_field="key"), data)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x93NUMPY garbage", "cannot be read as numpy: we only support format version"),
        (npy(np.arange(100.0))[:200], "cannot be read as numpy: EOF: reading array data"),
        (npy(np.float32(3)), "x is a single value (shape ()), not rows"),
        (
            npy(np.array([{"a": 1}, None])),
            "cannot be read as numpy: it holds an array of Python objects, which only pickle",
        ),
        (npz(x=np.array([{"a": 1}])), "cannot be read as numpy: it holds an array of Python"),
        (npz(), "holds no arrays"),
        (b"PK\x03\x04 garbage", "cannot be read as numpy: File is not a zip file"),
        (npz(x=np.zeros((2, 2)), key=np.zeros((2, 2))), "a block's keys must be one per row"),
    ],
)
def test_an_unreadable_numpy_file_is_one_error_naming_it(data: bytes, problem: str) -> None:
    with pytest.raises(InputError, match=re.escape(f"in: {problem}")):
        read(BlockSource("numpy", key_field="key" if b"key" in data else None), data)


@pytest.mark.parametrize("kind", ["parquet", "arrow"])
def test_a_corrupt_parquet_or_arrow_file_is_one_error_naming_it(kind: str, tmp_path: Any) -> None:
    sink = io.BytesIO()
    pq.write_table(table(), sink)
    data = sink.getvalue()
    data = data[:40] + b"\x00" * 200 + data[240:] if kind == "parquet" else b"ARROW1 garbage"
    what = "Parquet" if kind == "parquet" else "Arrow (an IPC file or stream)"
    with pytest.raises(InputError, match=re.escape(f"in: cannot be read as {what}: ")):
        read(BlockSource(kind, key_field="key"), data)  # type: ignore[arg-type]
    path = tmp_path / "in.parquet"
    path.write_bytes(b"PAR1 not parquet")
    with pytest.raises(InputError, match=re.escape(f"{path}: cannot be read as Parquet: ")):
        list(BlockSource("parquet").read_path(str(path)))


def csv_rows(rows: int, bad: dict[int, str], pad: int = 0) -> bytes:
    """``key,x[,pad]`` lines: x is the row number, but ``bad[row]`` where given."""
    lines = ["key,x" + (",pad" if pad else "")]
    for row in range(rows):
        cell = bad.get(row, str(row))
        lines.append(f"k{row},{cell}" + ("," + "p" * pad if pad else ""))
    return ("\n".join(lines) + "\n").encode()


def test_a_csv_cell_that_is_no_number_fails_its_row_only() -> None:
    data = csv_rows(1000, {499: "abc"})
    results = read(BlockSource("csv", key_field="key", block_rows=300), data)
    (failure,) = [r for r in results if isinstance(r, Failure)]
    assert failure.key == "k499" and failure.example == {"x": "abc"}
    assert failure.message == (
        "in, row 500: column 'x' holds 'abc', not a number as the column's other values are; "
        "fix the value"
    )
    blocks = blocks_of(results)
    assert sum(b.rows for b in blocks) == 999
    assert all(b.data["x"].dtype == np.int64 for b in blocks)
    keys = np.concatenate([b.keys for b in blocks]).tolist()
    assert keys == [f"k{i}" for i in range(1000) if i != 499]


def test_a_bad_csv_cell_past_arrows_first_block_is_one_failure() -> None:
    # Arrow types columns from its first block (4 MiB): a later cell that is no number used to
    # end the run with ArrowInvalid.
    data = csv_rows(60_000, {55_000: "abc"}, pad=80)
    assert len(data) > 1 << 22
    results = read(BlockSource("csv", key_field="key", input_field="x"), data)
    (failure,) = [r for r in results if isinstance(r, Failure)]
    assert failure.key == "k55000" and failure.message.startswith("in, row 55001: column 'x'")
    blocks = blocks_of(results)
    assert sum(b.rows for b in blocks) == 59_999


def test_csv_text_columns_keys_and_bad_utf8_cells() -> None:
    lines = [b"key,x,name", b"1,1.5,ann", b"b,2.5,7", b"c,\xff3,bob", b"d,,carl", b"e,NA,dan"]
    results = read(BlockSource("csv", key_field="key"), b"\n".join(lines) + b"\n")
    (failure,) = [r for r in results if isinstance(r, Failure)]
    assert failure.key == "c"
    assert failure.message == "in, row 3: column 'x' is not valid UTF-8 (byte 1 of the value)"
    (block,) = blocks_of(results)
    assert block.keys.tolist() == ["1", "b", "d", "e"]  # a key column is never a failure
    assert block.data["name"].tolist() == ["ann", "7", "carl", "dan"]  # mostly text: text
    np.testing.assert_array_equal(block.data["x"], [1.5, 2.5, np.nan, np.nan])


def test_a_null_in_a_parquet_list_column_fails_its_row_only() -> None:
    x = pa.array([[1.0, 2.0], [3.0, 4.0], None, [7.0, 8.0]], pa.list_(pa.float32()))
    sink = io.BytesIO()
    pq.write_table(pa.table({"key": ["a", "b", "c", "d"], "x": x, "n": [1, None, 3, 4]}), sink)
    results = read(BlockSource("parquet", key_field="key", block_rows=3), sink.getvalue())
    (failure,) = [r for r in results if isinstance(r, Failure)]
    assert failure.key == "c" and failure.example == {"x": None, "n": 3}
    assert failure.message == (
        "in, row 3: column 'x' is null (no list of values, as its other rows have); fill it in"
    )
    blocks = blocks_of(results)
    assert [b.keys.tolist() for b in blocks] == [["a", "b"], ["d"]]
    assert blocks[0].data["x"].shape == (2, 2) and blocks[0].data["x"].dtype == np.float32
    assert np.isnan(blocks[0].data["n"][1])  # a null number stays NaN, as documented


def test_a_tf_example_missing_a_feature_or_its_length_fails_alone() -> None:
    stream = io.BytesIO()
    rows: list[dict[str, Any]] = [
        {"key": "a", "x": np.array([1.0], np.float32)},
        {"key": "b"},  # no x
        {"key": "c", "x": np.array([3.0, 4.0], np.float32)},  # two values where others hold one
        {"x": np.array([5.0], np.float32)},  # no key
        {"key": "e", "x": np.array([6.0], np.float32)},
        {"key": "f", "x": np.array([7.0], np.float32)},
    ]
    for row in rows:
        write_record(stream, make_example(row))
    results = read(BlockSource("tfrecord", key_field="key"), stream.getvalue())
    failures = [(r.key, r.message) for r in results if isinstance(r, Failure)]
    assert failures == [  # x has one value in most records (3 of 5 with a key)
        (None, "in, record 4: no feature 'key'; the example has ['x']"),
        ("b", "in, record 2: no feature 'x', which most records have"),
        ("c", "in, record 3: feature 'x' holds 2 values where most records hold 1"),
    ]
    (block,) = blocks_of(results)
    assert block.keys.tolist() == ["a", "e", "f"] and block.data["x"].tolist() == [
        [1.0],
        [6.0],
        [7.0],
    ]


def test_a_parquet_list_of_another_length_than_most_fails_its_row_only() -> None:
    x = pa.array([[1.0], [2.0], [3.0, 3.5], [4.0]], pa.list_(pa.float32()))
    sink = io.BytesIO()
    pq.write_table(pa.table({"key": ["a", "b", "c", "d"], "x": x}), sink)
    results = read(BlockSource("parquet", key_field="key", input_field="x"), sink.getvalue())
    failures = [(r.key, r.message) for r in results if isinstance(r, Failure)]
    assert failures == [("c", "in, row 3: column 'x' holds 2 values where most rows hold 1")]
    (block,) = blocks_of(results)
    assert block.keys.tolist() == ["a", "b", "d"] and block.data.shape == (3, 1)
    ragged = pa.array([[1.0], [2.0, 2.5], [3.0, 3.5, 3.75]], pa.list_(pa.float32()))
    sink = io.BytesIO()
    pq.write_table(pa.table({"key": ["a", "b", "c"], "x": ragged}), sink)
    (block,) = read(BlockSource("parquet", key_field="key", input_field="x"), sink.getvalue())
    assert block.data.dtype == object and block.rows == 3  # no common length: left as it is


def test_a_tf_example_without_the_input_feature_fails_alone_even_in_a_block_of_its_own() -> None:
    stream = io.BytesIO()
    write_record(stream, make_example({"key": "a", "y": np.float32([1.0])}))
    source = BlockSource("tfrecord", key_field="key", input_field="x")
    (failure,) = read(source, stream.getvalue())  # it was a block with no column x: an error
    assert isinstance(failure, Failure) and failure.key == "a"
    assert failure.message == "in, record 1: no feature 'x'; the example has ['y']"


def test_a_csv_column_half_numbers_is_a_number_column() -> None:
    results = read(BlockSource("csv", key_field="key"), b"key,x\na,5\nb,abc\n")
    (failure,) = [r for r in results if isinstance(r, Failure)]
    assert failure.key == "b" and "column 'x' holds 'abc'" in failure.message
    (block,) = blocks_of(results)
    assert block.keys.tolist() == ["a"] and block.data["x"].tolist() == [5]


def test_bad_cells_are_numbered_among_the_rows_read_whole() -> None:
    data = b"key,x\na,1\nshort\nb,abc\nc,3\nd,4\n"
    results = read(BlockSource("csv", key_field="key"), data)
    assert [r.message for r in results if isinstance(r, Failure)] == [
        "in, line 3: 1 values for 2 columns",
        "in, row 2: column 'x' holds 'abc', not a number as the column's other values are; "
        "fix the value",
    ]
