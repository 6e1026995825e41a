"""The checks both forms of the conformance suite share, and running a handler on Beam."""

from __future__ import annotations

import base64
import pickle
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.execute import AnyHandler
from ..core.results import Failure, Prediction, Result
from ..graph.single import predict

__all__ = [
    "check_config_descriptions",
    "check_handler",
    "outputs_close",
    "outputs_equal",
    "run_on_beam",
]


def check_config_descriptions(handler: AnyHandler) -> None:
    """Every field of the handler's config has a ``description``.

    Raises:
        AssertionError: naming the fields without one, and how to add it.
    """
    config = type(handler.config)
    missing = [
        name for name, field in config.model_fields.items() if not (field.description or "").strip()
    ]
    assert not missing, (
        f"{config.__name__}: field(s) {', '.join(repr(name) for name in missing)} have no "
        'description; declare each as Field(..., description="what it sets"): '
        "`infergraph handlers --schema` and the docs show it"
    )


def check_handler(
    handler: AnyHandler, examples: Sequence[Any], *, beam: bool = True
) -> list[Prediction[Any]]:
    """Check ``handler`` against the handler contract on ``examples`` (which must all succeed).

    Returns:
        The in-process predictions, keyed ``0..n-1``, for further assertions.

    Raises:
        AssertionError: naming the rule the handler breaks.
    """
    check_config_descriptions(handler)
    copy = pickle.loads(pickle.dumps(handler))
    assert copy.config == handler.config, "the config must survive pickling unchanged"
    assert handler.config.model_config.get("frozen"), "the config must be frozen"

    model = handler.load()
    outputs = handler.run(model, handler.batch(list(examples)))
    predictions = list(handler.postprocess(list(examples), outputs))
    assert len(predictions) == len(examples), (
        f"postprocess returned {len(predictions)} predictions for {len(examples)} examples"
    )

    keyed = [(i, example) for i, example in enumerate(examples)]
    results = list(predict(handler, keyed))
    failures = [r for r in results if isinstance(r, Failure)]
    assert not failures, f"examples failed in-process: {failures[:3]}"
    assert [r.key for r in results] == list(range(len(examples))), "keys or order were lost"
    successes = [r for r in results if isinstance(r, Prediction)]
    for result, direct in zip(successes, predictions, strict=True):
        assert outputs_equal(result.output, direct), (
            f"predict() and the stages disagree for key {result.key}: "
            f"{result.output!r} != {direct!r}"
        )
    if beam:
        on_beam = {r.key: r for r in run_on_beam(handler, keyed)}
        assert sorted(on_beam) == list(range(len(examples))), "the Beam path lost elements"
        for result in successes:
            other = on_beam[result.key]
            assert isinstance(other, Prediction), f"failed on Beam: {other!r}"
            assert outputs_equal(result.output, other.output), (
                f"Beam and in-process disagree for key {result.key}"
            )
    return successes


def run_on_beam(handler: AnyHandler, data: Sequence[Any], **kwargs: Any) -> list[Result]:
    """Run ``handler`` over ``data`` in a DirectRunner pipeline; predictions and failures."""
    import apache_beam as beam  # noqa: PLC0415 (Beam: lazy)

    from ..beam.transform import RunInference  # noqa: PLC0415 (Beam: lazy)

    with tempfile.TemporaryDirectory(prefix="infergraph-beam-") as tmp:
        prefix = str(Path(tmp) / "results")
        with beam.Pipeline(runner="DirectRunner") as pipeline:
            predictions, failures = (
                pipeline
                | "Create" >> beam.Create(list(data), reshuffle=False)
                | RunInference(handler, **kwargs).with_exception_handling()
            )
            _ = (
                (predictions, failures)
                | beam.Flatten()
                | beam.Map(lambda r: base64.b64encode(pickle.dumps(r)).decode("ascii"))
                | beam.io.WriteToText(prefix)
            )
        lines = [
            line for path in sorted(Path(tmp).glob("results*")) for line in path.read_text().split()
        ]
    return [pickle.loads(base64.b64decode(line)) for line in lines]


def outputs_equal(left: Any, right: Any) -> bool:
    """Exact equality of outputs that may be arrays, dicts or lists of them."""
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(outputs_equal(left[k], right[k]) for k in left)
    if isinstance(left, np.ndarray | np.generic) or isinstance(right, np.ndarray | np.generic):
        return bool(np.array_equal(np.asarray(left), np.asarray(right)))
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(map(outputs_equal, left, right))
    return bool(left == right)


def outputs_close(left: Any, right: Any, *, rtol: float = 1e-5, atol: float = 1e-6) -> bool:
    """Equality of outputs up to float rounding (a model may round differently per batch size).

    Non-numeric values (text, objects) must be equal.
    """
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(
            outputs_close(left[k], right[k], rtol=rtol, atol=atol) for k in left
        )
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(
            outputs_close(a, b, rtol=rtol, atol=atol) for a, b in zip(left, right, strict=True)
        )
    a, b = np.asarray(left), np.asarray(right)
    if a.dtype.kind in "biufc" and b.dtype.kind in "biufc":
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    return outputs_equal(left, right)
