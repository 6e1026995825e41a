"""TFRecord files, record by record, with their checksums verified.

A record is ``length (uint64 LE) | masked crc32c of length | data | masked crc32c of data``.
Reading names the record number of a corrupt or truncated record, so one bad record becomes
one failure; nothing after a corrupt length can be trusted, so reading stops there.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

import google_crc32c

from ..core.errors import InputError

_MASK_DELTA = 0xA282EAD8


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data``."""
    crc = int(google_crc32c.value(data))
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def read_records(stream: BinaryIO) -> Iterator[tuple[int, bytes | InputError]]:
    """``(record number, data)`` for each record (from 1); an :class:`InputError` for a bad one.

    A record whose data fails its checksum is reported and skipped; a corrupt or truncated
    length ends the file (reported once).
    """
    number = 0
    while True:
        header = stream.read(12)
        if not header:
            return
        number += 1
        if len(header) < 12:
            yield number, InputError(f"record {number}: truncated header ({len(header)} bytes)")
            return
        length_bytes, length_crc = header[:8], struct.unpack("<I", header[8:])[0]
        if masked_crc32c(length_bytes) != length_crc:
            yield number, InputError(
                f"record {number}: corrupt length (checksum mismatch); the rest of the file "
                "cannot be read"
            )
            return
        (length,) = struct.unpack("<Q", length_bytes)
        data = stream.read(length)
        footer = stream.read(4)
        if len(data) < length or len(footer) < 4:
            yield number, InputError(f"record {number}: truncated data ({len(data)} of {length})")
            return
        if masked_crc32c(data) != struct.unpack("<I", footer)[0]:
            yield number, InputError(f"record {number}: corrupt data (checksum mismatch)")
            continue
        yield number, data


def write_record(stream: BinaryIO, data: bytes) -> None:
    """Append one record to a TFRecord stream."""
    length = struct.pack("<Q", len(data))
    stream.write(length + struct.pack("<I", masked_crc32c(length)))
    stream.write(data + struct.pack("<I", masked_crc32c(data)))
