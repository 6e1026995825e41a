"""``HandlerConformance``: the conformance suite as a pytest base class, one test per rule."""

from __future__ import annotations

import pickle
import threading
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..core.blocks import Block
from ..core.execute import AnyHandler
from ..core.handler import ModelHandler
from ..core.metrics import NullMetrics, RunStats
from ..core.results import Failure, Prediction, Result
from ..core.sharing import SHARED_MODELS, ModelBox
from ..graph.single import predict
from .checks import check_config_descriptions, outputs_close, run_on_beam

# Keys of every kind a user may pass: they must come back as given, in order.
KEYS: tuple[Any, ...] = (0, "a", ("t", 1), 2.5, None, b"k", -1, "a", frozenset({1}), 10**30)

_subjects: weakref.WeakKeyDictionary[type, tuple[AnyHandler, ModelBox]] = (
    weakref.WeakKeyDictionary()
)
_subjects_lock = threading.Lock()


class HandlerConformance:
    """Subclass it as ``Test<YourHandler>``; pytest then runs each rule as its own test.

    Example:
        >>> class TestScale(HandlerConformance):               # doctest: +SKIP
        ...     handler = ScaleHandler(factor=3.0)
        ...     good_examples = [1.0, 2.0, 3.0]
        ...     bad_examples = ["three", None]

    The handler is built once per class (:meth:`make_handler`) and its model loaded once.

    Attributes:
        handler: The handler under test; or override :meth:`make_handler` (for a model that
            is written to a temporary directory first, say).
        good_examples: Examples the handler must predict (at least one).
        bad_examples: Examples it must turn into failure records, each alone, while the good
            ones around them still succeed. Empty: that test is skipped.
        good_block: A :class:`~infergraph.Block` for handlers that accept blocks; its output
            must match the rows predicted one by one.
        beam: Also compare with the Beam DirectRunner path (a few seconds).
        threads: Threads calling the shared model at once in the thread-safety test.
        rtol: Relative tolerance when outputs of different batchings are compared.
    """

    handler: ClassVar[Any] = None
    good_examples: ClassVar[Sequence[Any]] = ()
    bad_examples: ClassVar[Sequence[Any]] = ()
    good_block: ClassVar[Block | None] = None
    beam: ClassVar[bool] = True
    threads: ClassVar[int] = 4
    rtol: ClassVar[float] = 1e-5

    def make_handler(self) -> AnyHandler:
        """The handler under test. Default: the ``handler`` attribute."""
        if self.handler is None:
            raise TypeError(
                f"{type(self).__name__}: set the class attribute handler, or override "
                "make_handler()"
            )
        handler: AnyHandler = self.handler
        return handler

    # -- the rules ---------------------------------------------------------------------------

    def test_config_is_frozen_and_pickles(self) -> None:
        """Beam pickles the handler to its workers; workers share models by ``cache_key``."""
        handler = self._handler()
        assert handler.config.model_config.get("frozen"), "the config must be frozen"
        copy = pickle.loads(pickle.dumps(handler))
        assert type(copy) is type(handler), "the handler must unpickle as its own class"
        assert copy.config == handler.config, "the config must survive pickling unchanged"
        assert copy.cache_key() == handler.cache_key(), (
            "cache_key() must be the same for a pickled copy: it identifies the loaded model "
            "to share; build it from the config, never from id() or the time"
        )

    def test_every_config_field_has_a_description(self) -> None:
        """``infergraph handlers --schema`` and the docs show each field's description."""
        check_config_descriptions(self._handler())

    def test_handler_pickles_after_load(self) -> None:
        """``load()`` returns the model; it does not keep unpicklable state on the handler."""
        handler = self._handler()
        self._model()
        try:
            pickle.dumps(handler)
        except Exception as exc:
            raise AssertionError(
                f"the handler no longer pickles after load() ({type(exc).__name__}: {exc}); "
                "return the model from load() instead of keeping it on self"
            ) from exc

    def test_the_model_loads_once(self) -> None:
        """Repeated runs, and pickled copies of the handler, share one loaded model."""
        handler = self._handler()
        stats = RunStats()
        copies = [pickle.loads(pickle.dumps(handler)) for _ in range(2)]
        for subject in (handler, handler, *copies):
            list(predict(subject, self._good()[:1], metrics=stats))
        loads = stats.distributions["load_time_ms"].count
        assert loads <= 1, f"the model was loaded {loads} times for one handler config"

    def test_stages_agree_with_predict(self) -> None:
        """``batch``, ``run`` and ``postprocess`` give one prediction per example, the same as
        ``predict``."""
        good = self._good()
        direct = self._direct(good)
        results = list(predict(self._handler(), list(enumerate(good))))
        predictions = self._assert_predictions(results, list(range(len(good))))
        for result, expected in zip(predictions, direct, strict=True):
            assert outputs_close(result.output, expected, rtol=self.rtol), (
                f"predict() and the stages disagree for example {result.key}: "
                f"{result.output!r} != {expected!r}"
            )

    def test_keys_and_order_survive(self) -> None:
        """Keys of any type come back as given, in order; unkeyed input stays unkeyed."""
        good = self._good()
        data = [(key, good[i % len(good)]) for i, key in enumerate(KEYS)]
        results = list(predict(self._handler(), data, keyed=True))
        self._assert_predictions(results, list(KEYS))
        unkeyed = list(predict(self._handler(), good, keyed=False))
        assert len(unkeyed) == len(good) and all(r.key is None for r in unkeyed)

    def test_bad_examples_fail_alone_with_a_message(self) -> None:
        """Each bad example becomes a failure record with a message; the good ones succeed."""
        if not self.bad_examples:
            import pytest  # noqa: PLC0415 (pytest: the testing extra)

            pytest.skip("no bad_examples given")
        good, bad = self._good(), list(self.bad_examples)
        direct = self._direct(good)
        data: list[tuple[Any, Any]] = []
        for i in range(max(len(good), len(bad))):
            data.append((("good", i % len(good)), good[i % len(good)]))
            if i < len(bad):
                data.append((("bad", i), bad[i]))
        results = list(predict(self._handler(), data))
        assert [r.key for r in results] == [key for key, _ in data], "keys or order were lost"
        for result in results:
            kind, index = result.key
            if kind == "bad":
                _assert_failure(result, f"bad example {index} ({_short(bad[index])})")
            else:
                assert isinstance(result, Prediction), (
                    f"good example {index} failed next to bad ones: {result!r}"
                )
                assert outputs_close(result.output, direct[index], rtol=self.rtol), (
                    f"good example {index} changed next to bad ones"
                )
        for index, example in enumerate(bad):
            (alone,) = predict(self._handler(), [(("bad", index), example)])
            _assert_failure(alone, f"bad example {index} alone")

    def test_threads_share_the_loaded_model(self) -> None:
        """Several threads calling ``run`` on one loaded model get the serial results."""
        good = self._good()
        expected = self._direct(good)
        start = threading.Barrier(self.threads)
        problems: list[str] = []

        def work() -> None:
            start.wait()
            for _ in range(3):
                try:
                    got = self._direct(good)
                except Exception as exc:
                    problems.append(f"{type(exc).__name__}: {exc}")
                    return
                if not all(
                    outputs_close(a, b, rtol=self.rtol) for a, b in zip(got, expected, strict=True)
                ):
                    problems.append("outputs differ from the serial run")

        workers = [threading.Thread(target=work) for _ in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not problems, (
            f"threads sharing the loaded model went wrong: {problems[:3]}; the model from "
            "load() is shared by threads: guard it with a lock, or make it thread-safe"
        )

    def test_a_block_matches_its_rows(self) -> None:
        """A block's output has one row per block row, equal to the rows predicted alone."""
        block = self.good_block
        if block is None:
            import pytest  # noqa: PLC0415 (pytest: the testing extra)

            pytest.skip("no good_block given")
        handler = self._handler()
        assert handler.accepts_blocks, "good_block is set but the handler does not accept blocks"
        (result,) = predict(handler, [("block", block)])
        assert isinstance(result, Prediction), f"the block failed: {result!r}"
        rows = [_row(block, i) for i in range(block.rows)]
        alone = list(predict(handler, rows, keyed=False))
        singles = self._assert_predictions(alone, [None] * len(rows))
        for i, single in enumerate(singles):
            assert outputs_close(_row(result.output, i), single.output, rtol=self.rtol), (
                f"row {i} of the block's output differs from the row predicted alone"
            )

    def test_beam_agrees_with_in_process(self) -> None:
        """The Beam path gives the same predictions and failures, key by key."""
        if not self.beam:
            import pytest  # noqa: PLC0415 (pytest: the testing extra)

            pytest.skip("beam = False")
        good, bad = self._good(), list(self.bad_examples)
        data = [(f"good{i}", e) for i, e in enumerate(good)] + [
            (f"bad{i}", e) for i, e in enumerate(bad)
        ]
        local = {r.key: r for r in predict(self._handler(), data)}
        on_beam = run_on_beam(self._handler(), data)
        assert sorted(r.key for r in on_beam) == sorted(local), "Beam lost or repeated elements"
        for other in on_beam:
            mine = local[other.key]
            if isinstance(mine, Prediction) and isinstance(other, Prediction):
                assert outputs_close(other.output, mine.output, rtol=self.rtol), (
                    f"{other.key}: Beam and in-process outputs differ"
                )
            elif isinstance(mine, Failure) and isinstance(other, Failure):
                assert (other.stage, other.error_type) == (mine.stage, mine.error_type), (
                    f"{other.key}: Beam failed differently: {other!r} vs {mine!r}"
                )
            else:
                raise AssertionError(f"{other.key}: Beam gave {other!r}, in-process {mine!r}")

    # -- helpers -----------------------------------------------------------------------------

    def _handler(self) -> AnyHandler:
        return self._subject()[0]

    def _model(self) -> Any:
        return self._subject()[1].model

    def _subject(self) -> tuple[AnyHandler, ModelBox]:
        cls = type(self)
        with _subjects_lock:
            subject = _subjects.get(cls)
            if subject is None:
                handler = self.make_handler()
                assert isinstance(handler, ModelHandler), (
                    f"make_handler() must return a ModelHandler, got {type(handler).__name__}"
                )
                assert self.good_examples, "set good_examples (at least one)"
                subject = _subjects[cls] = (handler, SHARED_MODELS.acquire(handler, NullMetrics()))
            return subject

    def _good(self) -> list[Any]:
        return list(self.good_examples)

    def _direct(self, examples: list[Any]) -> list[Any]:
        """The stages called by hand, in calls of the model's fixed batch size if it has one."""
        handler, model = self._handler(), self._model()
        fixed = handler.fixed_batch_size(model)
        size = fixed or len(examples)
        predictions: list[Any] = []
        for start in range(0, len(examples), size):
            chunk = examples[start : start + size]
            called = chunk + [chunk[-1]] * (size - len(chunk)) if fixed else chunk
            returned = list(handler.postprocess(called, handler.run(model, handler.batch(called))))
            assert len(returned) == len(called), (
                f"postprocess returned {len(returned)} predictions for {len(called)} examples; "
                "it must return one per example"
            )
            predictions += returned[: len(chunk)]
        return predictions

    @staticmethod
    def _assert_predictions(results: list[Result], keys: list[Any]) -> list[Prediction[Any]]:
        failures = [r for r in results if isinstance(r, Failure)]
        assert not failures, f"good examples failed: {failures[:3]}"
        got = [r.key for r in results]
        assert len(got) == len(keys) and all(
            a is b or a == b for a, b in zip(got, keys, strict=True)
        ), f"keys or order were lost: {got} != {keys}"
        return [r for r in results if isinstance(r, Prediction)]


def _assert_failure(result: Result, what: str) -> None:
    assert isinstance(result, Failure), f"{what} did not fail: {result!r}"
    assert result.stage and result.error_type, f"{what}: a failure needs a stage and a type"
    assert result.message.strip(), f"{what}: the failure has no message"


def _row(value: Any, index: int) -> Any:
    if isinstance(value, Block):
        value = value.data
    if isinstance(value, Mapping):
        return {name: np.asarray(column)[index] for name, column in value.items()}
    return np.asarray(value)[index]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
