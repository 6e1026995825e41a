"""What a handler returns is checked inside the stage guard: nothing escapes, nothing is lost."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

import infergraph as ig
from infergraph.testing import run_on_beam
from tests.core.handlers import ScaleHandler


class RaisingGenerator(ScaleHandler):
    """A postprocess that is a generator and raises midway, on one value."""

    def postprocess(self, examples: Sequence[Any], outputs: Any) -> Iterator[Any]:  # type: ignore[override]
        for example, output in zip(examples, outputs, strict=True):
            if example == 3.0:
                raise ValueError("cannot describe 3.0")
            yield output


class ReturnsNone(ScaleHandler):
    def postprocess(self, examples: Sequence[Any], outputs: Any) -> Any:
        return None


class ReturnsDict(ScaleHandler):
    def postprocess(self, examples: Sequence[Any], outputs: Any) -> Any:
        return {i: o for i, o in enumerate(outputs)}


def test_a_generator_postprocess_raising_midway_fails_only_its_element() -> None:
    data = [(f"k{i}", float(i)) for i in range(6)]
    results = list(ig.predict(RaisingGenerator(max_batch_size=6), data))
    assert [r.key for r in results] == [key for key, _ in data]
    failures = [r for r in results if isinstance(r, ig.Failure)]
    assert [(f.key, f.stage, f.error_type) for f in failures] == [
        ("k3", "postprocess", "ValueError")
    ]
    assert "cannot describe 3.0" in failures[0].message
    predictions = [r for r in results if isinstance(r, ig.Prediction)]
    assert [float(p.output) for p in predictions] == [0.0, 2.0, 4.0, 8.0, 10.0]


def test_a_generator_postprocess_that_succeeds_is_materialised() -> None:
    class Lazy(ScaleHandler):
        def postprocess(self, examples: Sequence[Any], outputs: Any) -> Iterator[Any]:  # type: ignore[override]
            yield from outputs

    results = list(ig.predict(Lazy(), [1.0, 2.0]))
    assert [float(r.output) for r in results] == [2.0, 4.0]


def test_a_postprocess_returning_none_fails_every_element_with_a_message() -> None:
    results = list(ig.predict(ReturnsNone(), [("a", 1.0), ("b", 2.0)]))
    assert [r.key for r in results] == ["a", "b"]
    for failure in results:
        assert isinstance(failure, ig.Failure)
        assert (failure.stage, failure.error_type) == ("postprocess", "PostprocessError")
        assert "returned None" in failure.message
        assert "one prediction per example" in failure.message


def test_a_postprocess_returning_a_mapping_is_rejected() -> None:
    (failure,) = ig.predict(ReturnsDict(), [1.0])
    assert isinstance(failure, ig.Failure) and failure.error_type == "PostprocessError"
    assert "returned a dict" in failure.message


class BadBlockOutput(ScaleHandler):
    def __init__(self, returns: str, **options: Any) -> None:
        super().__init__(**options)
        self.returns = returns

    def block_output(self, block: ig.Block, outputs: Any) -> Any:
        if self.returns == "none":
            return None
        if self.returns == "generator":
            return (row for row in outputs)
        if self.returns == "short":
            return outputs[:-1]
        if self.returns == "raising":
            return _raise_after_one(outputs)
        return outputs


def _raise_after_one(outputs: Any) -> Iterator[Any]:
    yield outputs[0]
    raise RuntimeError("block output broke")


@pytest.mark.parametrize(
    ("returns", "error_type", "text"),
    [
        ("none", "PostprocessError", "block_output of handler 'BadBlockOutput' returned None"),
        ("short", "PostprocessError", "2 rows for a block slice of 3 rows"),
        ("raising", "RuntimeError", "block output broke"),
    ],
)
def test_a_bad_block_output_fails_the_block_alone(returns: str, error_type: str, text: str) -> None:
    data = [("blk", ig.Block(np.ones(3))), ("one", 1.0)]
    results = list(ig.predict(BadBlockOutput(returns), data))
    *failures, prediction = results
    assert len(failures) == 3  # bisected by rows: each row fails on its own, with the block's key
    for failure in failures:
        assert isinstance(failure, ig.Failure) and failure.key == "blk"
        assert (failure.stage, failure.error_type) == ("postprocess", error_type)
    if returns != "short":  # a one-row slice gives "0 rows for a block slice of 1 rows"
        assert text in failures[0].message
    assert isinstance(prediction, ig.Prediction) and prediction.key == "one"


def test_a_generator_block_output_is_materialised() -> None:
    (result,) = ig.predict(BadBlockOutput("generator", max_batch_size=2), [ig.Block(np.ones(5))])
    assert isinstance(result, ig.Prediction)
    np.testing.assert_array_equal(result.output, np.full(5, 2.0))


def test_an_exception_whose_message_cannot_be_read_still_gives_a_message() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    class Broken(ScaleHandler):
        def run(self, model: float, batch: np.ndarray) -> np.ndarray:
            raise Unprintable

    (failure,) = ig.predict(Broken(), [("a", 1.0)])
    assert isinstance(failure, ig.Failure) and failure.error_type == "Unprintable"
    assert "run failed in model node 'Broken' for key 'a'" in failure.message
    assert "could not be turned into text" in failure.message


def test_beam_routes_postprocess_failures_instead_of_failing_the_pipeline() -> None:
    data = [(f"k{i}", float(i)) for i in range(5)] + [("blk", ig.Block(np.ones(2)))]
    results = {r.key: r for r in run_on_beam(RaisingGenerator(), data)}
    assert sorted(results) == sorted(key for key, _ in data)
    assert isinstance(results["k3"], ig.Failure) and results["k3"].stage == "postprocess"
    assert all(isinstance(results[k], ig.Prediction) for k in ("k0", "k1", "k2", "k4", "blk"))
    nones = {r.key: r for r in run_on_beam(ReturnsNone(), [("a", 1.0), ("b", 2.0)])}
    assert all(
        isinstance(r, ig.Failure) and r.error_type == "PostprocessError" for r in nones.values()
    )
    assert sorted(nones) == ["a", "b"]


def test_an_exception_put_in_place_of_a_prediction_names_its_stage_or_run() -> None:
    class Staged(ValueError):
        stage = "decode"

    class Odd(ValueError):
        stage = 7  # not a stage name

    class Mixed(ScaleHandler):
        def postprocess(self, examples: Sequence[Any], outputs: Any) -> list[Any]:
            return [Staged("no label"), Odd("odd"), *list(outputs)[2:]]

    results = list(ig.predict(Mixed(), [1.0, 2.0, 3.0]))
    assert [getattr(r, "stage", None) for r in results] == ["decode", "run", None]
    assert isinstance(results[2], ig.Prediction)
