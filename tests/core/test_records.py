from __future__ import annotations

import json
import math

import numpy as np

from infergraph.core.records import dumps


def test_nan_and_infinities_are_valid_json() -> None:
    text = dumps({"y": np.array([1.0, math.nan, math.inf, -math.inf]), "z": float("nan")})
    assert json.loads(text) == {"y": [1.0, None, "Infinity", "-Infinity"], "z": None}
    assert "NaN" not in text


def test_bytes_and_unknown_objects() -> None:
    assert json.loads(dumps({"b": b"\x00\x01"})) == {"b": {"b64": "AAE="}}
    assert json.loads(dumps({"o": object})) == {"o": repr(object)}
