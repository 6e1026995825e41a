"""TFX compatibility: infergraph results as ``tensorflow_serving`` ``PredictionLog`` protos.

Each :class:`~infergraph.Prediction` becomes one ``PredictionLog`` with a ``predict_log`` in the
shape tfx-bsl's ``RunInference`` emits: the request holds the example under ``input_name``
(a serialized ``tf.train.Example`` as a ``DT_STRING`` tensor of shape ``[1]``; arrays as tensors
with a leading dimension of 1), the response holds every output as a tensor of shape
``[1, ...]``, and both carry the signature name. Failures have no log and are skipped.

The message classes come from tensorflow-serving-api when it is installed, otherwise from
wire-compatible definitions (see :mod:`infergraph.handlers.tensorflow.tfx_protos`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ...core.blocks import Block
from ...core.errors import InputError
from ...core.results import Prediction
from .._support import require
from .tfx_protos import prediction_log_types


def to_prediction_log(
    prediction: Prediction[Any],
    *,
    signature_name: str = "serving_default",
    model_name: str = "",
    input_name: str = "examples",
    output_name: str = "output_0",
) -> Any:
    """The ``PredictionLog`` of one prediction.

    Args:
        prediction: A prediction whose example is serialized ``tf.train.Example`` bytes, a
            ``tf.train.Example``, an array, or a dict of arrays by input name.
        signature_name: Recorded on the request and response model specs.
        model_name: Recorded as the model spec's name when given.
        input_name: The request's input alias for a non-dict example (TFX: ``examples``).
        output_name: The response's output alias when the output is one array, not a dict.

    Raises:
        InputError: the prediction is for a block (logs are per example).
    """
    tf = require("tensorflow", package="tensorflow", extra="tensorflow", purpose="PredictionLog")
    if isinstance(prediction.example, Block):
        raise InputError(
            "a PredictionLog holds one example; a block prediction has many rows. "
            "Predict per example to write prediction logs"
        )
    types = prediction_log_types()
    log = types.PredictLog()
    for spec in (log.request.model_spec, log.response.model_spec):
        spec.signature_name = signature_name
        if model_name:
            spec.name = model_name
    example = prediction.example
    inputs = example if isinstance(example, Mapping) else {input_name: example}
    for name, value in inputs.items():
        log.request.inputs[name].MergeFromString(_input_tensor(tf, value))
    output = prediction.output
    outputs = output if isinstance(output, Mapping) else {output_name: output}
    for name, value in outputs.items():
        log.response.outputs[name].MergeFromString(_row_tensor(tf, value))
    return types.PredictionLog(predict_log=log)


def to_prediction_logs(results: Iterable[Any], **options: Any) -> Iterator[Any]:
    """``PredictionLog`` protos for the predictions among ``results`` (failures are skipped).

    Args:
        results: Predictions and failures, e.g. from :func:`infergraph.predict`.
        **options: Keyword arguments of :func:`to_prediction_log`.
    """
    for result in results:
        if isinstance(result, Prediction):
            yield to_prediction_log(result, **options)


def write_prediction_logs(results: Iterable[Any], path: str | Path, **options: Any) -> int:
    """Write the predictions among ``results`` to a TFRecord file of ``PredictionLog`` protos.

    Args:
        results: Predictions and failures (failures are skipped).
        path: The TFRecord file to write (uncompressed).
        **options: Keyword arguments of :func:`to_prediction_log`.

    Returns:
        The number of logs written.
    """
    tf = require("tensorflow", package="tensorflow", extra="tensorflow", purpose="PredictionLog")
    written = 0
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in to_prediction_logs(results, **options):
            writer.write(log.SerializeToString())
            written += 1
    return written


def prediction_log_sink(file_path_prefix: str, **options: Any) -> Any:
    """A Beam transform writing the predictions of a PCollection of results as TFRecord logs.

    Example:
        >>> predictions | prediction_log_sink("gs://bucket/logs/part")   # doctest: +SKIP

    Args:
        file_path_prefix: Output prefix for ``beam.io.WriteToTFRecord``.
        **options: Keyword arguments of :func:`to_prediction_log`.
    """
    import apache_beam  # noqa: PLC0415 (Beam: lazy)

    beam: Any = apache_beam  # Beam's API is untyped

    def serialize(result: Prediction[Any]) -> bytes:
        return bytes(to_prediction_log(result, **options).SerializeToString())

    return (
        beam.Filter(lambda result: isinstance(result, Prediction))
        | beam.Map(serialize)
        | beam.io.WriteToTFRecord(file_path_prefix)
    )


def _input_tensor(tf: Any, value: Any) -> bytes:
    if isinstance(value, bytes | bytearray) or hasattr(value, "SerializeToString"):
        data = bytes(value) if isinstance(value, bytes | bytearray) else value.SerializeToString()
        return bytes(tf.make_tensor_proto([data], shape=[1]).SerializeToString())
    return _row_tensor(tf, value)


def _row_tensor(tf: Any, value: Any) -> bytes:
    row = np.asarray(value)
    return bytes(tf.make_tensor_proto(row, shape=(1, *row.shape)).SerializeToString())
