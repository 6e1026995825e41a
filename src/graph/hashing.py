"""A stable hash of keys, one key at a time or a whole column at once, with the same result.

Splits send each element to an arm by the fraction ``stable_fractions(keys, salt)`` gives its
key: 64-bit FNV-1a over the key's canonical bytes (the salt and a type tag first, so ``1`` and
``"1"`` differ), then MurmurHash3's 64-bit finalizer to spread the bits, then the top 53 bits as a
fraction of one. It is the same on every run, process, machine and Python version (unlike
``hash``), and a column of keys is hashed with numpy, without a Python call per key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

_OFFSET = np.uint64(0xCBF29CE484222325)
_PRIME = np.uint64(0x100000001B3)


def canonical_key(key: Any) -> bytes:
    """Bytes that identify ``key`` by value and type: a type tag, then the value."""
    if isinstance(key, np.generic):
        key = key.item()
    if isinstance(key, bytes | bytearray):
        return b"b:" + bytes(key)
    if isinstance(key, str):
        return b"s:" + key.encode("utf-8")
    if isinstance(key, bool):
        return b"o:" + str(key).encode()
    if isinstance(key, int):
        return b"i:" + str(key).encode()
    return b"j:" + json.dumps(key, sort_keys=True, default=repr).encode("utf-8")


def stable_fraction(key: Any, salt: str) -> float:
    """A number in ``[0, 1)`` from ``key`` and ``salt``, the same everywhere.

    Example:
        >>> stable_fraction("user-1", "ab") == stable_fraction("user-1", "ab")
        True
    """
    return float(stable_fractions([key], salt)[0])


def stable_fractions(keys: Sequence[Any] | np.ndarray[Any, Any], salt: str) -> np.ndarray[Any, Any]:
    """:func:`stable_fraction` of every key, as a float64 array (vectorized for str, bytes,
    integer and boolean columns)."""
    tagged = _tagged(keys)
    seed = salt.encode("utf-8")
    salted = _fnv(np.array([_OFFSET]), _matrix([len(seed).to_bytes(4, "big") + seed]))
    state = _fnv(np.full(len(tagged), salted[0], dtype=np.uint64), _matrix(tagged))
    return (_fmix(state) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _tagged(keys: Sequence[Any] | np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Each key's canonical bytes, as a numpy bytes array."""
    array = keys if isinstance(keys, np.ndarray) else None
    if array is not None and array.dtype.kind == "U":
        return np.char.add(b"s:", np.char.encode(array, "utf-8"))
    if array is not None and array.dtype.kind == "S":
        return np.char.add(b"b:", array)
    if array is not None and array.dtype.kind == "b":
        return np.where(array, b"o:True", b"o:False").astype("S")
    if array is not None and array.dtype.kind in "iu":
        return np.char.add(b"i:", array.astype(str).astype("S"))
    return (
        np.array([canonical_key(key) for key in keys], dtype="S")
        if len(keys)
        else np.zeros(0, "S1")
    )


def _matrix(
    values: Sequence[bytes] | np.ndarray[Any, Any],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    array = np.asarray(values, dtype="S")
    width = max(array.dtype.itemsize, 1)
    data = np.frombuffer(array.tobytes(), dtype=np.uint8).reshape(len(array), width)
    lengths = np.char.str_len(array) if len(array) else np.zeros(0, dtype=np.int64)
    # str_len stops at trailing NULs, which numpy's bytes arrays drop anyway; keys whose bytes
    # end in NUL are hashed without them, the same way on both paths.
    return data, lengths


def _fnv(
    state: np.ndarray[Any, Any], matrix: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]
) -> np.ndarray[Any, Any]:
    data, lengths = matrix
    state = state.copy()
    for column in range(data.shape[1]):
        live = column < lengths
        if not live.any():
            break
        mixed = (state ^ data[:, column].astype(np.uint64)) * _PRIME
        state = np.where(live, mixed, state)
    return state


def _fmix(k: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    k = k ^ (k >> np.uint64(33))
    k = k * np.uint64(0xFF51AFD7ED558CCD)
    k = k ^ (k >> np.uint64(33))
    k = k * np.uint64(0xC4CEB9FE1A85EC53)
    mixed: np.ndarray[Any, Any] = k ^ (k >> np.uint64(33))
    return mixed
