"""Readers: every record is an element or a failure naming its file and line (or record)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from infergraph import Failure
from infergraph.core.tfexample import make_example, parse_example
from infergraph.io.sources import Source
from infergraph.io.tfrecord import read_records, write_record


def read(source: Source, data: bytes) -> list[Any]:
    return list(source.read(io.BytesIO(data), "in"))


def messages(results: list[Any]) -> list[str]:
    return [r.message for r in results if isinstance(r, Failure)]


def test_jsonl_keys_blank_lines_and_bad_lines() -> None:
    data = (
        b'{"id": "a", "x": [1]}\n'
        b"\n"
        b"not json\n"
        b'{"id": "b", "x": [2]}\r\n'
        b"\xff\xfe{}\n"
        b"[1, 2]\n"
        b'{"x": [3]}\n'
    )
    results = read(Source("jsonl", key_field="id"), data)
    assert results[0] == ("a", {"x": [1]})
    assert results[2] == ("b", {"x": [2]})
    assert messages(results) == [
        "in, line 3: not valid JSON (Expecting value, column 1)",
        "in, line 5: not valid UTF-8 (byte 1 of the line)",
        "in, line 6: expected a JSON object, got list",
        "in, line 7: no key field 'id'; the record has ['x']",
    ]
    assert all(f.stage == "input" for f in results if isinstance(f, Failure))
    assert len(results) == 6  # the blank line holds no record


def test_jsonl_input_field_and_unkeyed() -> None:
    data = b'{"id": 1, "x": [1], "y": 2}\n{"id": 2, "y": 3}\n'
    results = read(Source("jsonl", key_field="id", input_field="x"), data)
    assert results[0] == (1, [1])
    assert messages(results) == ["in, line 2: no field 'x'; the record has ['y']"]
    assert results[1].key == 2  # the key is known, so the failure keeps it
    assert read(Source("jsonl"), b'{"x": 1}\n') == [{"x": 1}]


def test_csv_values_quoting_and_bad_rows() -> None:
    data = (
        b"key,x,label\n"
        b"first_question,105,a\n"
        b'second_question,108.5,"two\nlines"\n'
        b"short,1\n"
        b"\n"
        b"bad,\xff,x\n"
        b"empty,,z\n"
    )
    results = read(Source("csv", key_field="key"), data)
    assert results[0] == ("first_question", {"x": 105, "label": "a"})
    assert results[1] == ("second_question", {"x": 108.5, "label": "two\nlines"})
    assert results[-1] == ("empty", {"x": None, "label": "z"})
    assert messages(results) == [
        "in, line 5: 2 values for 3 columns ['key', 'x', 'label']",
        "in, line 7: not valid UTF-8 (byte 5 of the line)",
    ]


def test_a_byte_order_mark_and_crlf_line_ends_are_no_part_of_the_records() -> None:
    bom = b"\xef\xbb\xbf"
    jsonl = read(Source("jsonl", key_field="id"), bom + b'{"id": "a", "x": 1}\r\n{"id": "b"}\r\n')
    assert jsonl == [("a", {"x": 1}), ("b", {})]
    assert read(Source("jsonl", key_field="id"), bom + b"\n" + b'{"id": "a"}\n') == [("a", {})]
    csv = read(Source("csv", key_field="id"), bom + b"id,x\r\na,1\r\nb,2\r\n")
    assert csv == [("a", {"x": 1}), ("b", {"x": 2})]
    # only a file's first bytes are a byte order mark; inside a record, it is data
    later = read(Source("csv", key_field="id"), b"id,x\r\n" + bom + b"a,1\r\n")
    assert later == [("\ufeffa", {"x": 1})]


def test_a_lone_surrogate_escape_is_a_failure_of_its_line() -> None:
    # json.loads accepts "\ud800" but no UTF-8 writer (nor Beam's coder) can encode the result
    data = b'{"id": "\\ud800", "x": 1}\n{"id": "\\ud83d\\ude00 \\u00e9", "x": 2}\n'
    results = read(Source("jsonl", key_field="id"), data)
    assert results[1] == ("\U0001f600 \u00e9", {"x": 2})  # a whole pair is one character
    assert messages(results) == [
        "in, line 1: a \\u escape is half of a UTF-16 surrogate pair (\\ud800 to \\udfff) "
        "without its other half: not valid Unicode; fix the escape"
    ]
    assert results[0].example == '{"id": "\\ud800", "x": 1}'
    results[0].example.encode("utf-8")


def test_a_json_error_names_its_column_on_the_line() -> None:
    (failure,) = read(Source("jsonl"), b'{"id": "c", "x": [3]\n')
    assert failure.message == "in, line 1: not valid JSON (Expecting ',' delimiter, column 21)"


def test_tf_examples_are_the_same_bytes_as_tensorflow() -> None:
    tf = pytest.importorskip("tensorflow")
    ours = make_example({"x": [105.0], "n": [3, 4], "key": "a"})
    theirs = tf.train.Example(
        features=tf.train.Features(
            feature={
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[105.0])),
                "n": tf.train.Feature(int64_list=tf.train.Int64List(value=[3, 4])),
                "key": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a"])),
            }
        )
    )
    assert tf.train.Example.FromString(ours) == theirs
    parsed = parse_example(theirs.SerializeToString())
    assert parsed["x"].dtype == np.float32 and parsed["x"].tolist() == [105.0]
    assert parsed["n"].tolist() == [3, 4] and parsed["key"] == [b"a"]


def tfrecords(*records: bytes) -> bytes:
    stream = io.BytesIO()
    for record in records:
        write_record(stream, record)
    return stream.getvalue()


def test_tfrecords_keys_and_both_example_forms() -> None:
    a = make_example({"key": "a", "x": [105.0]})
    b = make_example({"key": "b", "x": [108.0]})
    data = tfrecords(a, b, make_example({"x": [1.0]}), b"\x00garbage")
    serialized = read(Source("tfrecord", key_field="key"), data)
    assert serialized[:2] == [("a", a), ("b", b)]
    assert messages(serialized) == [
        "in, record 3: no feature 'key'; the example has ['x']",
        "in, record 4: not a serialized tf.train.Example: Error parsing message with type "
        "'tensorflow.Example'",
    ]
    features = read(Source("tfrecord", key_field="key", example="features"), data)
    assert features[0][0] == "a" and features[0][1]["x"].tolist() == [105.0]
    assert "key" not in features[0][1]
    assert read(Source("tfrecord"), tfrecords(a)) == [a]  # unkeyed, serialized: as is


def test_corrupt_and_truncated_tfrecords() -> None:
    good = make_example({"key": "a", "x": [1.0]})
    data = bytearray(tfrecords(good, good, good))
    record = len(data) // 3
    data[record + 20] ^= 0xFF  # corrupt the second record's data
    results = list(read_records(io.BytesIO(bytes(data) + b"\x05\x00")))
    assert [n for n, r in results if isinstance(r, bytes)] == [1, 3]
    assert [str(r) for _, r in results if not isinstance(r, bytes)] == [
        "record 2: corrupt data (checksum mismatch)",
        "record 4: truncated header (2 bytes)",
    ]


def test_a_csv_row_that_is_not_utf8_keeps_its_key() -> None:
    data = b"key,x\na,1\nb,\xff\n\xfe,2\nshort\n"
    results = read(Source("csv", key_field="key"), data)
    failures = [r for r in results if isinstance(r, Failure)]
    assert [(f.key, f.message) for f in failures] == [
        ("b", "in, line 3: not valid UTF-8 (byte 3 of the line)"),
        (None, "in, line 4: not valid UTF-8 (byte 1 of the line)"),  # the key itself is bad
        (None, "in, line 5: 1 values for 2 columns ['key', 'x']"),
    ]
