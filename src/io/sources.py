"""Reading input files into elements: JSONL, CSV and TFRecords of ``tf.train.Example``.

A source yields, for each record of a file, a ``(key, example)`` pair (or the example alone
without a key field), or a :class:`~infergraph.Failure` of stage ``input`` whose message names
the file and the line (or record) number: a line that is not valid UTF-8 or not JSON, a CSV row
with the wrong number of values, a corrupt TFRecord, a missing key. Nothing is dropped but
blank lines, which hold no record.

The example is the record less its key field, or the value of ``input_field``; which part of a
record a handler then receives follows :mod:`infergraph.core.fields`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from ..core.errors import InputError
from ..core.results import Failure
from ..core.tfexample import feature_scalar, parse_example
from .tfrecord import read_records

Format = Literal["jsonl", "csv", "tfrecord"]
NODE = "input"


@dataclass(frozen=True)
class Source:
    """How to read records of one format into elements.

    Attributes:
        format: ``jsonl``, ``csv`` or ``tfrecord`` (serialized ``tf.train.Example``).
        key_field: The field (feature) holding each record's key; ``None`` for no keys.
        input_field: Pass this field's value as the example instead of the other fields.
        example: tfrecord only: ``serialized`` (the record's bytes, for signatures that parse
            examples) or ``features`` (a dict of feature values).
    """

    format: Format
    key_field: str | None = None
    input_field: str | None = None
    example: Literal["serialized", "features"] = "serialized"

    def read(self, stream: BinaryIO, name: str) -> Iterator[Any]:
        """The elements (and input failures) of one file opened as ``stream``, in order."""
        if self.format == "jsonl":
            return self._jsonl(stream, name)
        if self.format == "csv":
            return self._csv(stream, name)
        return self._tfrecord(stream, name)

    # -- formats -------------------------------------------------------------------------------

    def _jsonl(self, stream: BinaryIO, name: str) -> Iterator[Any]:
        for number, raw in enumerate(iter(stream.readline, b""), start=1):
            if not raw.strip():
                continue
            where = f"{name}, line {number}"
            try:
                text = _decode(raw, number)
            except UnicodeDecodeError as exc:
                yield _failure(raw, where, f"not valid UTF-8 (byte {exc.start + 1} of the line)")
                continue
            if not text.strip():  # a byte order mark alone
                continue
            text = text.rstrip("\r\n")
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                problem = f"not valid JSON ({exc.msg}, column {exc.colno})"
                yield _failure(text, where, problem)
                continue
            if not isinstance(record, dict):
                problem = f"expected a JSON object, got {type(record).__name__}"
                yield _failure(record, where, problem)
                continue
            if "\\u" in text and _lone_surrogate(record):
                problem = (
                    "a \\u escape is half of a UTF-16 surrogate pair (\\ud800 to \\udfff) "
                    "without its other half: not valid Unicode; fix the escape"
                )
                yield _failure(text, where, problem)
                continue
            yield self._element(record, where)

    def _csv(self, stream: BinaryIO, name: str) -> Iterator[Any]:
        bad: dict[int, str] = {}

        def lines() -> Iterator[str]:
            for number, raw in enumerate(iter(stream.readline, b""), start=1):
                try:
                    yield _decode(raw, number)
                except UnicodeDecodeError as exc:
                    bad[number] = f"not valid UTF-8 (byte {exc.start + 1} of the line)"
                    yield raw.decode("utf-8", "replace")

        reader = csv.reader(lines())
        header: list[str] | None = None
        for row in reader:
            end = reader.line_num
            where = f"{name}, line {end}"
            if header is None:
                if bad:
                    yield _failure(",".join(row), where, f"the header is {bad.pop(min(bad))}")
                    return
                header = row
                continue
            if not any(cell.strip() for cell in row):
                continue
            problem = next((bad.pop(n) for n in sorted(bad) if n <= end), None)
            if problem is not None:
                yield _failure(",".join(row), where, problem, key=self._csv_key(header, row))
            elif len(row) != len(header):
                yield _failure(
                    ",".join(row), where, f"{len(row)} values for {len(header)} columns {header}"
                )
            else:
                yield self._element(dict(zip(header, map(_cell, row), strict=True)), where)

    def _tfrecord(self, stream: BinaryIO, name: str) -> Iterator[Any]:
        for number, data in read_records(stream):
            where = f"{name}, record {number}"
            if isinstance(data, InputError):
                yield _failure(b"", f"{name}", str(data))
                continue
            if self.example == "serialized" and self.key_field is None:
                yield data
                continue
            try:
                features = parse_example(data)
                key = feature_scalar(features, self.key_field) if self.key_field else None
            except InputError as exc:
                yield _failure(data, where, str(exc))
                continue
            if self.example == "serialized":
                yield (key, data)
                continue
            features.pop(self.key_field or "", None)
            yield self._element(features, where, key=key, keyed=self.key_field is not None)

    # -- helpers -------------------------------------------------------------------------------

    def _csv_key(self, header: list[str], row: list[str]) -> Any:
        """The key of a CSV row that failed (one whose other cells are not UTF-8, say): its
        key cell where that was read whole, else ``None``."""
        if self.key_field is None or len(row) != len(header) or self.key_field not in header:
            return None
        cell = row[header.index(self.key_field)]
        return None if "\ufffd" in cell else _cell(cell)

    def _element(
        self, record: dict[str, Any], where: str, *, key: Any = None, keyed: bool | None = None
    ) -> Any:
        keyed = self.key_field is not None if keyed is None else keyed
        if self.key_field is not None and key is None:
            if self.key_field not in record:
                return _failure(
                    record,
                    where,
                    f"no key field {self.key_field!r}; the record has {sorted(record)}",
                )
            key = record.pop(self.key_field)
        example: Any = record
        if self.input_field is not None:
            if self.input_field not in record:
                return _failure(
                    record,
                    where,
                    f"no field {self.input_field!r}; the record has {sorted(record)}",
                    key=key,
                )
            example = record[self.input_field]
        return (key, example) if keyed else example


def _decode(raw: bytes, number: int) -> str:
    """A line as text; the first line loses its UTF-8 byte order mark (editors on Windows
    write one), which is no part of the first record."""
    text = raw.decode("utf-8")
    return text.removeprefix("\ufeff") if number == 1 else text


def _lone_surrogate(record: dict[str, Any]) -> bool:
    """Whether a JSON record holds a lone surrogate (from an escape such as ``\\ud800``),
    which no UTF-8 writer or Beam coder can encode."""
    try:
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _cell(text: str) -> Any:
    """A CSV value: an int or a float when it reads as one, ``None`` when empty, else text."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _failure(example: Any, where: str, problem: str, *, key: Any = None) -> Failure:
    if isinstance(example, bytes):
        example = example.decode("utf-8", "backslashreplace").rstrip("\r\n")
    return Failure(
        example=example,
        key=key,
        stage="input",
        node=NODE,
        error_type=InputError.__name__,
        message=f"{where}: {problem}",
    )
