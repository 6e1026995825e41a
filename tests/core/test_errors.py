"""Every infergraph error survives the way Beam rebuilds a worker's exception."""

from __future__ import annotations

import pickle

import apache_beam as beam
import pytest

import infergraph as ig
from infergraph.cli.errors import strip_beam_suffix, user_error
from infergraph.core import errors

CLASSES = sorted(
    (
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == errors.__name__
    ),
    key=lambda cls: cls.__name__,
)

# Errors built with their extra attributes, as the code raising them does.
WITH_ATTRIBUTES = [
    errors.PluginError("failed to import: boom", plugin="scale"),
    errors.DuplicateHandlerError("handler name 'x' is taken", plugin="other"),
    errors.MissingDependencyError.for_extra("onnxruntime", "onnx", "the onnx handler"),
    errors.GraphError("a cycle", node="five"),
    errors.EndpointUnavailableError("endpoint down", 503),
    errors.RequestRejectedError("rejected", 400, "bad instance"),
    errors.RequestError("the queue is full", 503, {"Retry-After": "1"}),
]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_class_is_built_from_its_message_alone(cls: type[Exception]) -> None:
    assert issubclass(cls, ig.InfergraphError)
    exc = cls("something failed")
    rebuilt = type(exc)(str(exc))
    assert type(rebuilt) is cls
    assert str(rebuilt) == "something failed"
    # What Beam does on a worker: the same class, the message with the step appended.
    tagged = type(exc)(exc.args[0] + " [while running 'Step']", *exc.args[1:])
    assert str(tagged) == "something failed [while running 'Step']"


@pytest.mark.parametrize("exc", WITH_ATTRIBUTES, ids=lambda exc: type(exc).__name__)
def test_errors_with_attributes_keep_their_message_when_rebuilt(exc: Exception) -> None:
    rebuilt = type(exc)(str(exc))
    assert str(rebuilt) == str(exc)
    assert str(type(exc)(exc.args[0] + " [while running 'S']", *exc.args[1:])) == (
        f"{exc} [while running 'S']"
    )
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc) and str(copy) == str(exc)
    assert vars(copy) == vars(exc)


def test_every_class_is_covered() -> None:
    assert {type(exc) for exc in WITH_ATTRIBUTES} | set(CLASSES) == set(CLASSES)
    assert len(CLASSES) == len([n for n in ig.__all__ if n.endswith("Error")])


def test_the_messages_of_errors_with_attributes() -> None:
    assert str(WITH_ATTRIBUTES[0]) == "plugin 'scale': failed to import: boom"
    assert WITH_ATTRIBUTES[0].plugin == "scale"  # type: ignore[attr-defined]
    missing = WITH_ATTRIBUTES[2]
    assert str(missing) == (
        "the onnx handler needs the 'onnxruntime' package, which is not installed. "
        "Install it with: pip install 'infergraph[onnx]'"
    )
    assert (missing.package, missing.extra) == ("onnxruntime", "onnx")  # type: ignore[attr-defined]


class _RaiseIn(beam.DoFn):
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def process(self, element: object):
        raise self.exc


@pytest.mark.parametrize("exc", WITH_ATTRIBUTES[:3], ids=lambda exc: type(exc).__name__)
def test_an_error_raised_on_a_beam_worker_comes_back_as_itself(exc: Exception) -> None:
    # Any exception: what matters is the type Beam raises.
    with pytest.raises(Exception) as info, beam.Pipeline(runner="DirectRunner") as pipeline:
        _ = pipeline | beam.Create([1]) | "Explode" >> beam.ParDo(_RaiseIn(exc))
    assert type(info.value) is type(exc), f"Beam turned it into {type(info.value).__name__}"
    assert "[while running" in str(info.value)
    found = user_error(info.value)
    assert type(found) is type(exc)
    assert str(found) == str(exc)


def test_user_error_reads_an_error_beam_wrote_as_text() -> None:
    text = RuntimeError(
        "infergraph.core.errors.ModelLoadError: model 'm.onnx' not found "
        "[while running 'Run[m]/ParDo(_InferDoFn)'] [while running 'Outer']"
    )
    found = user_error(text)
    assert isinstance(found, ig.ModelLoadError)
    assert str(found) == "model 'm.onnx' not found"
    assert user_error(RuntimeError("a bug: KeyError: 'x'")) is None
    assert user_error(ValueError("not ours")) is None


def test_user_error_finds_ours_in_the_cause_chain() -> None:
    try:
        try:
            raise ig.DeviceError("no GPU [while running 'S']")
        except ig.DeviceError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as outer:
        found = user_error(outer)
    assert isinstance(found, ig.DeviceError) and str(found) == "no GPU"


def test_strip_beam_suffix_keeps_the_rest() -> None:
    assert strip_beam_suffix("a [b] [while running 'x[1]/y']") == "a [b]"
    assert strip_beam_suffix("no suffix") == "no suffix"
