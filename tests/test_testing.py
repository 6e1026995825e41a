"""The conformance suite itself: a good handler passes it, each broken rule is caught."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from infergraph.testing import HandlerConformance, check_handler, outputs_close
from tests.core.handlers import ScaleConfig, ScaleHandler


class TestScaleConformance(HandlerConformance):
    """The core's test handler passes every rule (this class runs as tests)."""

    handler = ScaleHandler(factor=3.0, model_id="conformance-scale")
    good_examples = (1.0, 2.0, 3.0)
    bad_examples = ("three", {"a": 1}, object())
    good_block = __import__("infergraph").Block(np.arange(4.0))


def run_rule(suite: type[HandlerConformance], rule: str) -> None:
    getattr(suite(), rule)()


class KeepsModel(ScaleHandler):
    def load(self) -> float:
        self.lock = threading.Lock()  # unpicklable state kept on the handler
        return super().load()


class Unstable(ScaleHandler):
    def cache_key(self) -> str:
        return f"{super().cache_key()}:{id(self)}"


def test_a_model_kept_on_the_handler_breaks_pickling() -> None:
    class Suite(HandlerConformance):
        handler = KeepsModel(model_id="keeps-model")
        good_examples = (1.0,)

    with pytest.raises(AssertionError, match=r"no longer pickles after load.*lock"):
        run_rule(Suite, "test_handler_pickles_after_load")


def test_an_unstable_cache_key_is_caught() -> None:
    class Suite(HandlerConformance):
        handler = Unstable()
        good_examples = (1.0,)

    with pytest.raises(AssertionError, match="cache_key"):
        run_rule(Suite, "test_config_is_frozen_and_pickles")
    with pytest.raises(AssertionError, match="loaded 2 times"):
        run_rule(Suite, "test_the_model_loads_once")


def test_a_short_postprocess_is_caught() -> None:
    class Short(ScaleHandler):
        def postprocess(self, examples: Sequence[Any], outputs: Any) -> list[Any]:
            return list(outputs)[:-1]

    class Suite(HandlerConformance):
        handler = Short()
        good_examples = (1.0, 2.0)

    with pytest.raises(AssertionError, match="returned 1 predictions for 2 examples"):
        run_rule(Suite, "test_stages_agree_with_predict")


def test_a_bad_example_that_does_not_fail_is_caught() -> None:
    class Suite(HandlerConformance):
        handler = ScaleHandler(model_id="lenient")
        good_examples = (1.0,)
        bad_examples = (True,)  # a bool is a number to numpy: it succeeds

    with pytest.raises(AssertionError, match=r"bad example 0 \(True\) did not fail"):
        run_rule(Suite, "test_bad_examples_fail_alone_with_a_message")


class Unsafe:
    """A model that breaks when two threads call it at once (a shared scratch buffer)."""

    def __init__(self) -> None:
        self.busy = False

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.busy:
            raise RuntimeError("scratch buffer in use by another call")
        self.busy = True
        time.sleep(0.01)
        self.busy = False
        return batch * 2


def test_a_model_that_is_not_thread_safe_is_caught() -> None:
    class NotThreadSafe(ScaleHandler):
        def load(self) -> Any:
            return Unsafe()

        def run(self, model: Any, batch: np.ndarray) -> np.ndarray:
            return model(batch)  # type: ignore[no-any-return]

    class Suite(HandlerConformance):
        handler = NotThreadSafe(model_id="unsafe")
        good_examples = (1.0, 2.0)
        threads = 8

    with pytest.raises(AssertionError, match="scratch buffer in use"):
        run_rule(Suite, "test_threads_share_the_loaded_model")


def test_a_block_output_that_differs_from_its_rows_is_caught() -> None:
    class Reversed(ScaleHandler):
        def block_output(self, block: Any, outputs: Any) -> Any:
            return outputs[::-1]

    class Suite(HandlerConformance):
        handler = Reversed(model_id="reversed")
        good_examples = (1.0,)
        good_block = __import__("infergraph").Block(np.arange(3.0))

    with pytest.raises(AssertionError, match="row 0 of the block's output differs"):
        run_rule(Suite, "test_a_block_matches_its_rows")


def test_a_suite_without_a_handler_says_what_to_set() -> None:
    class Suite(HandlerConformance):
        good_examples = (1.0,)

    with pytest.raises(TypeError, match="set the class attribute handler"):
        run_rule(Suite, "test_stages_agree_with_predict")


def test_outputs_close() -> None:
    assert outputs_close({"a": [1.0, 2.0]}, {"a": np.array([1.0, 2.0 + 1e-9])})
    assert outputs_close(np.nan, np.nan)
    assert not outputs_close([1.0], [1.1])
    assert not outputs_close("A", "a")
    assert not outputs_close({"a": 1}, {"b": 1})


def test_a_config_field_without_a_description_is_named() -> None:
    from pydantic import Field

    class UndescribedConfig(ScaleConfig):
        offset: float = 0.0
        bias: float = Field(default=0.0, description=" ")

    class Undescribed(ScaleHandler):
        Config = UndescribedConfig

    class Suite(HandlerConformance):
        handler = Undescribed(model_id="undescribed")
        good_examples = (1.0,)

    message = r"UndescribedConfig: field\(s\) 'offset', 'bias' have no description"
    with pytest.raises(AssertionError, match=message):
        run_rule(Suite, "test_every_config_field_has_a_description")
    with pytest.raises(AssertionError, match=message):
        check_handler(Undescribed(), [1.0], beam=False)
