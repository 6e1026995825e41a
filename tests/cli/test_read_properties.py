"""Property tests: files with bad cells, nulls, mixed types and bad lines lose no record.

Random CSV, JSONL, Parquet, npz and TFRecord files go through ``infergraph run`` in both read
modes (rows and blocks, where the format has both). Every input record ends exactly once, as a
result line or a failure line, with its key; a record that cannot be parsed at all (a line that
is not JSON, a CSV row with the wrong number of values, a record without its key) is a failure
without a key. A file that cannot be read as a whole (an npz whose arrays differ in length) is
refused: exit 2, nothing written."""

from __future__ import annotations

import collections
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infergraph.cli import main
from infergraph.core.tfexample import make_example
from infergraph.io.tfrecord import write_record

pytestmark = pytest.mark.slow

SPEC = """\
name: props
imports: [adapters]
models:
  five: {handler: onnx, path: five.onnx}
nodes:
  - {name: col, function: "adapters:col", columnar: true}
  - {name: five, model: five, input: col}
inputs:
INPUTS
outputs:
  - {format: jsonl, path: out.jsonl}
"""

# A CSV or JSON cell: numbers, text, missing values, and bytes that are not UTF-8 (CSV only).
CELLS = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.sampled_from(["abc", "", "NA", "null", " 7", "1e3", "1_000", '"4,5"', "\xff"]),
)
JSON_VALUES = st.one_of(
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["abc", None, [1.0], [1.0, 2.0], [], {"y": 1}, True]),
)
MODES = [("csv", "rows"), ("csv", "blocks"), ("jsonl", "rows"), ("parquet", "blocks")]
MODES += [("numpy", "blocks"), ("tfrecord", "rows"), ("tfrecord", "blocks")]


@dataclass(frozen=True)
class Case:
    fmt: str
    read: str
    data: bytes
    keys: list[str | None]
    refused: bool = False


@st.composite
def inputs(draw: Any, prefix: str) -> Case:
    """A format, a read mode, a file's bytes, the key of each record (None: unparseable) and
    whether the file is refused as a whole."""
    fmt, read = draw(st.sampled_from(MODES))
    size = draw(st.integers(0, 14))
    keys = [f"{prefix}k{i}" for i in range(size)]
    if fmt == "csv":
        lines, expected = [b"key,x"], []
        for key in keys:
            if draw(st.integers(0, 9)) == 0:  # a row with the wrong number of values
                lines.append(f"{key},1,2".encode())
                expected.append(None)
                continue
            cell = draw(CELLS)
            lines.append(f"{key},".encode() + (b"\xff" if cell == "\xff" else cell.encode()))
            expected.append(key)
        return Case(fmt, read, b"\n".join(lines) + b"\n", expected)
    if fmt == "jsonl":
        lines, expected = [], []
        for key in keys:
            if draw(st.integers(0, 9)) == 0:
                lines.append(b"not json")
                expected.append(None)
                continue
            lines.append(json.dumps({"key": key, "x": draw(JSON_VALUES)}).encode())
            expected.append(key)
        return Case(fmt, read, b"\n".join(lines) + b"\n", expected)
    if fmt == "tfrecord":
        return draw(tf_examples(read, keys))
    values = draw(st.lists(st.floats(width=32) | st.none(), min_size=size, max_size=size))
    if fmt == "parquet":
        listed = draw(st.booleans())
        lengths = draw(st.lists(st.sampled_from([1, 1, 1, 2]), min_size=size, max_size=size))
        x = [None if v is None else [v] * n for v, n in zip(values, lengths, strict=True)]
        x = x if listed else values
        kind = pa.list_(pa.float32()) if listed else pa.float32()
        sink = pa.BufferOutputStream()
        pq.write_table(pa.table({"key": keys, "x": pa.array(x, kind)}), sink, row_group_size=3)
        return Case(fmt, read, sink.getvalue().to_pybytes(), list(keys))
    extra = draw(st.sampled_from([0] * 6 + [1, -1]))  # npz arrays of unequal length
    x = np.asarray([np.nan if v is None else v for v in values], np.float32)
    if extra > 0:
        x = np.concatenate([x, np.zeros(extra, np.float32)])
    elif extra < 0 and size:
        x = x[:extra]
    sink_np = io.BytesIO()
    np.savez(sink_np, key=np.asarray(keys, dtype=str), x=x.reshape(-1, 1))
    return Case(fmt, read, sink_np.getvalue(), list(keys), refused=len(x) != size)


@st.composite
def tf_examples(draw: Any, read: str, keys: list[str]) -> Case:
    """TFRecords of examples with x of one value, mostly; some of two, some without x, some
    without a key, some whose data fails its checksum."""
    stream, expected = io.BytesIO(), []
    for key in keys:
        kind = draw(st.sampled_from(["good"] * 5 + ["two", "no x", "no key", "corrupt"]))
        features: dict[str, Any] = {"key": key, "x": np.float32([draw(st.floats(width=32))])}
        if kind == "two":
            features["x"] = np.float32([1.0, 2.0])
        elif kind == "no x":
            del features["x"]
        elif kind == "no key":
            del features["key"]
        data = make_example(features)
        if kind == "corrupt":
            start = stream.tell()
            write_record(stream, data)
            stream.seek(start + 12)
            stream.write(bytes([data[0] ^ 0xFF]))
            stream.seek(0, io.SEEK_END)
        else:
            write_record(stream, data)
        expected.append(None if kind in ("no key", "corrupt") else key)
    return Case("tfrecord", read, stream.getvalue(), expected)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, five_onnx: Path) -> Path:
    path = tmp_path_factory.mktemp("read_props")
    shutil.copy(five_onnx, path / "five.onnx")
    (path / "adapters.py").write_text(
        "import numpy as np\n\ndef col(x):\n"
        "    return np.asarray(x, dtype=np.float32).reshape(-1, 1)\n"
    )
    return path


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def input_entry(index: int, case: Case) -> str:
    suffix = {"numpy": "npz"}.get(case.fmt, case.fmt)
    entry = f"format: {case.fmt}, path: in{index}.{suffix}, key_field: key, input_field: x"
    entry += ", example: features" if case.fmt == "tfrecord" else ""
    return f"  - {{{entry}, read_as: {case.read}, block_rows: 4}}"


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.integers(1, 3).flatmap(lambda n: st.tuples(*(inputs(f"i{i}-") for i in range(n)))))
def test_every_record_of_a_file_ends_once_as_a_result_or_a_failure(
    project: Path, cases: tuple[Case, ...]
) -> None:
    for old in project.glob("*.jsonl"):
        old.unlink()
    for index, case in enumerate(cases):
        suffix = {"numpy": "npz"}.get(case.fmt, case.fmt)
        (project / f"in{index}.{suffix}").write_bytes(case.data)
    entries = "\n".join(input_entry(i, case) for i, case in enumerate(cases))
    (project / "spec.yaml").write_text(SPEC.replace("INPUTS", entries))
    status = main(["run", str(project / "spec.yaml"), "--no-progress"])
    if any(case.refused for case in cases):  # an npz whose arrays differ in length
        assert status == 2 and lines(project / "out.jsonl") == []
        return
    results = lines(project / "out.jsonl")
    failures = lines(project / "out.failures.jsonl")
    expected = [key for case in cases for key in case.keys]
    assert status in (0, 1)
    assert len(results) + len(failures) == len(expected), (results, failures)
    got = collections.Counter(r["key"] for r in [*results, *failures])
    assert got == collections.Counter(expected)
    assert all(f["message"] for f in failures)
