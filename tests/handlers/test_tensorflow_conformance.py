"""The TensorFlow handler passes the conformance suite, on serialized examples and on dicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import infergraph as ig
from infergraph.testing import HandlerConformance
from tests.handlers import tf_models
from tests.handlers.tf_models import example_proto, serialized_example

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tf_models.saved_models(tmp_path_factory.mktemp("tf"))


class TestSerializedExamples(HandlerConformance):
    good_examples = (serialized_example(105), example_proto(108), serialized_example(-2.5))
    bad_examples = (b"not a proto", serialized_example(1)[:-3], np.ones(1), "text")

    @pytest.fixture(autouse=True, scope="class")
    def _build(self, request: pytest.FixtureRequest, models: dict[str, Path]) -> None:
        request.cls.handler = ig.handler("tensorflow", path=str(models["linear_examples"]))


class TestDictInputs(HandlerConformance):
    good_examples = (
        {"a": np.array([1.0, 2.0]), "b": np.array([1, 0])},
        {"b": [0, 2], "a": [0.5, 0.5]},
        {"a": np.zeros(2, np.float32), "b": np.array([3, 4], np.int32)},
    )
    bad_examples = (
        {"a": np.ones(2)},
        {"a": np.ones(3), "b": np.ones(3, np.int64)},
        {"a": [None, 1.0], "b": [1, 1]},
        {"a": np.ones(2), "b": np.array([0.5, 1.0])},
        np.ones(2),
    )
    good_block = ig.Block({"a": np.ones((3, 2)), "b": np.arange(6).reshape(3, 2)})

    @pytest.fixture(autouse=True, scope="class")
    def _build(self, request: pytest.FixtureRequest, models: dict[str, Path]) -> None:
        request.cls.handler = ig.handler("tensorflow", path=str(models["two_inputs"]))


class TestFixedBatch(HandlerConformance):
    good_examples = ([1.0], [2.0], [3.0])
    bad_examples = ([1.0, 2.0], ["x"])
    good_block = ig.Block(np.ones((3, 1), np.float32))
    beam = False  # one Beam run per model kind is enough here

    @pytest.fixture(autouse=True, scope="class")
    def _build(self, request: pytest.FixtureRequest, models: dict[str, Path]) -> None:
        request.cls.handler = ig.handler("tensorflow", path=str(models["fixed_batch"]))
