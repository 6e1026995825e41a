from __future__ import annotations

import json
import math

import numpy as np

from infergraph.graph.records import dumps, graph_record, to_jsonable
from infergraph.graph.state import GraphResult, Lineage


def test_nan_and_infinities_are_valid_json() -> None:
    text = dumps({"y": np.array([1.0, math.nan, math.inf, -math.inf]), "z": float("nan")})
    assert json.loads(text) == {"y": [1.0, None, "Infinity", "-Infinity"], "z": None}
    assert "NaN" not in text


def test_bytes_and_unknown_objects() -> None:
    assert json.loads(dumps({"b": b"\x00\x01"})) == {"b": {"b64": "AAE="}}
    assert json.loads(dumps({"o": object})) == {"o": repr(object)}


def test_model_outputs_write_utf8_bytes_as_text_and_inputs_stay_exact() -> None:
    labels = np.array([b"ROME", "héllo".encode(), b"\xff\xfe"], dtype=object)
    assert to_jsonable(labels, text=True) == ["ROME", "héllo", {"b64": "//4="}]
    assert to_jsonable(np.array([b"a", b"b"]), text=True) == ["a", "b"]  # a fixed-width S array
    assert to_jsonable({"city": [b"OSLO"]}, text=True) == {"city": ["OSLO"]}
    assert to_jsonable(b"ROME") == {"b64": "Uk9NRQ=="}  # an input echoed as it came


def test_a_graph_record_writes_text_outputs_and_echoes_bytes_inputs() -> None:
    result = GraphResult(
        key=None,
        example=b"ROME",
        values={"upper": b"ROME"},
        failures={},
        skipped=(),
        lineage=Lineage(("upper",), {}),
    )
    record = graph_record(result, ["upper"])
    assert record["upper"] == "ROME" and record["input"] == {"b64": "Uk9NRQ=="}
