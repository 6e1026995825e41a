"""The ``tensorflow`` handler: a SavedModel signature, loaded once per process.

An example is a serialized ``tf.train.Example`` (``bytes``), a ``tf.train.Example`` or a dict
of features, for a signature that parses examples (batched as one string tensor); an array or
tensor, for a single-input signature (stacked); or a dict of arrays by input name. A prediction
is the array (single-output signatures) or a dict of arrays by output name. Blocks are
supported. A signature with an output that has no batch axis is refused at load.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...core.blocks import Block
from ...core.errors import InputError, ModelLoadError
from ...core.handler import ModelHandler
from ...core.tfexample import make_example
from ...plugins.hookspecs import Register, hookimpl
from .._support import (
    as_input,
    check_batched,
    check_rows,
    fit_rank,
    named_input,
    require,
    select_outputs,
    shared_fields,
    single_input,
    stack,
)
from ..storage import local_model
from .config import TensorFlowConfig
from .device import place

Columns = np.ndarray[Any, Any] | Mapping[str, np.ndarray[Any, Any]]
Outputs = dict[str, np.ndarray[Any, Any]]


@dataclass(frozen=True)
class TFModel:
    """A loaded SavedModel signature and what the handler needs to call it.

    Attributes:
        loaded: The object ``tf.saved_model.load`` returned (kept alive for its variables).
        function: The signature's concrete function.
        inputs: Input name -> ``tf.TensorSpec``.
        outputs: Output names returned, in order.
        device: The TensorFlow device the model was loaded on and is called on.
    """

    tf: Any
    loaded: Any
    function: Any
    inputs: dict[str, Any]
    outputs: list[str]
    device: str

    def feed(self, columns: Columns) -> dict[str, Any]:
        """The signature's keyword arguments for collated columns, cast to its dtypes."""
        if len(self.inputs) == 1:
            ((name, spec),) = self.inputs.items()
            if not self._parses(name, spec):
                return {name: self._tensor(name, spec, single_input(columns, name, "signature"))}
            if isinstance(columns, Mapping) and name not in columns:
                return {name: self._tensor(name, spec, _examples(columns))}
            try:
                return {name: self._tensor(name, spec, single_input(columns, name, "signature"))}
            except InputError as exc:
                raise InputError(
                    f"{exc}. This signature parses serialized tf.train.Example protos: pass "
                    "bytes, tf.train.Example protos or dicts of features"
                ) from None
        return {
            name: self._tensor(name, spec, named_input(columns, name, self.inputs, "signature"))
            for name, spec in self.inputs.items()
        }

    def call(self, columns: Columns) -> dict[str, Any]:
        """Call the signature on ``columns`` on the model's device; tensors by output name."""
        with self.tf.device(self.device):
            try:
                result = self.function(**self.feed(columns))
            except self.tf.errors.InvalidArgumentError as exc:
                raise _feature_type_error(exc) or exc from exc
        return {name: result[name] for name in self.outputs}

    def fixed_batch_size(self) -> int | None:
        """The static first dimension every input of the signature shares, or ``None``."""
        firsts = {spec.shape[0] if spec.shape.rank else None for spec in self.inputs.values()}
        if len(firsts) != 1:
            return None
        (first,) = firsts
        return int(first) if first else None

    def _parses(self, name: str, spec: Any) -> bool:
        """Whether the input is the TFX convention's serialized ``tf.train.Example`` batch."""
        return name == "examples" and spec.dtype == self.tf.string and spec.shape.rank == 1

    def _tensor(self, name: str, spec: Any, value: Any) -> Any:
        want = spec.dtype.as_numpy_dtype if spec.dtype != self.tf.string else object
        if isinstance(value, self.tf.Tensor):
            value = value.numpy()
        array = as_input(value, want, name, spec.dtype.name)
        array = fit_rank(array, spec.shape.as_list() if spec.shape.rank is not None else None)
        if not spec.shape.is_compatible_with(array.shape):
            raise InputError(
                f"input {name!r} expects shape {_shape(spec.shape)} ({spec.dtype.name}), got a "
                f"batch of shape {list(array.shape)}; each example needs shape "
                f"{_shape(spec.shape)[1:]}"
            )
        return self.tf.constant(array, dtype=spec.dtype)


class TensorFlowHandler(ModelHandler[Any, Columns, Outputs, Any, TFModel]):
    """Calls a signature of a TensorFlow SavedModel (Keras 3, tf-keras or ``tf.Module``)."""

    Config = TensorFlowConfig
    accepts_blocks = True
    config: TensorFlowConfig
    _parses_examples: bool | None = None

    def load(self) -> TFModel:
        tf = require(
            "tensorflow", package="tensorflow", extra="tensorflow", purpose="the tensorflow handler"
        )
        path = Path(local_model(self.config.path, kind="directory"))
        _check_dir(path)
        placement = place(tf, self.config.device_settings(), label=f"SavedModel {str(path)!r}")
        self.fell_back_to_cpu = placement.fallback_reason is not None
        try:
            with tf.device(placement.device):
                loaded = tf.saved_model.load(str(path), tags=self.config.tags)
        except Exception as exc:
            raise ModelLoadError(
                f"TensorFlow could not load the SavedModel {self.config.path!r}: "
                f"{type(exc).__name__}: {_first_line(exc)}"
            ) from exc
        function = self._signature(loaded)
        _, inputs = function.structured_input_signature
        outputs = self._outputs(function)
        model = TFModel(tf, loaded, function, dict(inputs), outputs, placement.device)
        specs = function.structured_outputs
        check_batched(
            {name: _dims(specs[name].shape) for name in outputs},
            model.fixed_batch_size(),
            chosen=self.config.output_names is not None,
            owner=f"signature {self.config.signature!r} of {self.config.path!r}",
        )
        return model

    def batch(self, examples: Sequence[Any]) -> Columns:
        first = examples[0]
        if isinstance(first, bytes | bytearray) or hasattr(first, "SerializeToString"):
            return _serialized(examples)
        if isinstance(first, Mapping) and self.takes_records:
            return _records_as_examples(examples)
        if isinstance(first, Mapping):
            names = shared_fields(examples)
            return {
                name: stack([e[name] for e in examples], name, numeric=False) for name in names
            }
        # Not checked for numbers here: feed checks each input against its dtype (text too).
        return stack(examples, None, numeric=False)

    def batch_block(self, block: Block) -> Columns:
        return block.data

    def run(self, model: TFModel, batch: Columns) -> Outputs:
        return {name: tensor.numpy() for name, tensor in model.call(batch).items()}

    def postprocess(self, examples: Sequence[Any], outputs: Outputs) -> list[Any]:
        check_rows(outputs, len(examples))
        if len(outputs) == 1:
            return list(next(iter(outputs.values())))
        names = list(outputs)
        rows = zip(*(list(outputs[name]) for name in names), strict=True)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def block_output(self, block: Block, outputs: Outputs) -> Any:
        check_rows(outputs, block.rows)
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs

    def fixed_batch_size(self, model: TFModel) -> int | None:
        return model.fixed_batch_size()

    # -- internals ---------------------------------------------------------------------------

    @property
    def takes_records(self) -> bool:
        """Whether the signature parses ``tf.train.Example``: then a record's fields are its
        features (a record of one field included), read from the SavedModel's signature."""
        if self._parses_examples is None:
            self._parses_examples = _parses_examples(
                Path(local_model(self.config.path, kind="directory")),
                self.config.signature,
                self.config.tags,
            )
        return self._parses_examples

    def _signature(self, loaded: Any) -> Any:
        signatures = dict(getattr(loaded, "signatures", {}) or {})
        name = self.config.signature
        if name not in signatures:
            available = sorted(signatures) or "none (export it with signatures=...)"
            raise ModelLoadError(
                f"the SavedModel {self.config.path!r} has no signature {name!r}; available "
                f"signatures: {available}. Set signature to one of them"
            )
        return signatures[name]

    def _outputs(self, function: Any) -> list[str]:
        owner = f"signature {self.config.signature!r} of {self.config.path!r}"
        return select_outputs(list(function.structured_outputs), self.config.output_names, owner)


def _parses_examples(path: Path, signature: str, tags: list[str] | None) -> bool:
    """Whether the signature's one input is the TFX batch of serialized ``tf.train.Example``,
    read from ``saved_model.pb`` without loading the model (``False`` when it cannot be read:
    loading reports why)."""
    try:
        from tensorflow.core.protobuf import saved_model_pb2  # noqa: PLC0415 (tensorflow: optional)

        saved = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    except Exception:  # a missing or corrupt model fails at load, with its message
        return False
    graphs = list(saved.meta_graphs)
    if tags is not None or len(graphs) > 1:
        wanted = set(tags or ["serve"])
        graphs = [g for g in graphs if wanted <= set(g.meta_info_def.tags)]
    for graph in graphs:
        if signature not in graph.signature_def:
            continue
        inputs = graph.signature_def[signature].inputs
        if len(inputs) != 1 or "examples" not in inputs:
            return False
        tensor = inputs["examples"]
        return tensor.dtype == _DT_STRING and len(tensor.tensor_shape.dim) == 1
    return False


_DT_STRING = 7  # tensorflow.DataType.DT_STRING


_TYPES_DIFFER = re.compile(
    r"Key: (?P<key>.+?), Index: \d+\.\s+Data types don't match\. "
    r"Data type: (?P<given>\w+) but expected type: (?P<expected>\w+)"
)


def _feature_type_error(exc: Exception) -> InputError | None:
    """A clear error for a tf.train.Example feature of another type than the model parses."""
    found = _TYPES_DIFFER.search(str(exc))
    if found is None:
        return None
    key, given, expected = found["key"], found["given"], found["expected"]
    hint = " (write 1013.0, not 1013)" if expected == "float" and given == "int64" else ""
    return InputError(
        f"feature {key!r} holds {given} values but the model parses it as {expected}: give it "
        f"{expected} values{hint}"
    )


def _check_dir(path: Path) -> None:
    if not path.exists():
        raise ModelLoadError(f"SavedModel directory {str(path)!r} not found (no such directory)")
    if not path.is_dir():
        raise ModelLoadError(
            f"SavedModel path {str(path)!r} is a file; pass the directory holding saved_model.pb"
        )
    if not any((path / name).is_file() for name in ("saved_model.pb", "saved_model.pbtxt")):
        raise ModelLoadError(
            f"{str(path)!r} is not a SavedModel directory: it has no saved_model.pb"
        )


def _serialized(examples: Sequence[Any]) -> np.ndarray[Any, Any]:
    out = np.empty(len(examples), dtype=object)
    for i, example in enumerate(examples):
        if isinstance(example, bytes | bytearray):
            out[i] = bytes(example)
        elif hasattr(example, "SerializeToString"):
            out[i] = example.SerializeToString()
        else:
            raise InputError(
                f"a batch of serialized tf.train.Example also holds a {type(example).__name__}; "
                "pass bytes or tf.train.Example for every example"
            )
    return out


def _dims(shape: Any) -> list[int | None] | None:
    return list(shape.as_list()) if shape.rank is not None else None


def _examples(columns: Mapping[str, Any]) -> np.ndarray[Any, Any]:
    """Dict examples (columns of features) as serialized ``tf.train.Example`` protos, for a
    signature that parses them: floats become float lists, integers int64 lists, text and
    bytes bytes lists.

    Raises:
        InputError: a feature holds ``None`` or other objects.
    """
    for feature, values in columns.items():
        array = np.asarray(values)
        objects = array.flat if array.dtype == object else ()
        odd = [v for v in objects if not isinstance(v, str | bytes)]
        if odd or array.dtype.kind not in "biufSUO":
            raise InputError(
                f"feature {feature!r} holds {odd[0] if odd else array.dtype!r}, which a "
                "tf.train.Example cannot hold; pass numbers, text or bytes"
            )
    rows = len(next(iter(columns.values()))) if columns else 0
    out = np.empty(rows, dtype=object)
    for row in range(rows):
        out[row] = make_example({feature: values[row] for feature, values in columns.items()})
    return out


def _records_as_examples(records: Sequence[Any]) -> np.ndarray[Any, Any]:
    """Records (dicts of features) as serialized ``tf.train.Example``, one by one: a feature
    may hold a value in one record and a list in another, as in a JSONL file."""
    out = np.empty(len(records), dtype=object)
    for row, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise InputError(
                f"a batch of records also holds a {type(record).__name__}; this signature "
                "parses tf.train.Example: pass dicts of features, bytes or tf.train.Example"
            )
        (out[row],) = _examples({feature: [value] for feature, value in record.items()})
    return out


def _shape(shape: Any) -> list[int | None]:
    return list(shape.as_list()) if shape.rank is not None else [None]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


@hookimpl
def register_handlers(register: Register) -> None:
    """Register the ``tensorflow`` handler."""
    register("tensorflow", TensorFlowHandler)
