"""The ``onnx`` handler: ONNX Runtime, one InferenceSession per process.

An example is an array (single-input models) or a dict of arrays by input name; a prediction is
the array (single-output models) or a dict of arrays by output name; a ZipMap output (skl2onnx
classifiers) gives one label -> probability dict per example. Blocks are supported. Inputs are
checked against the model's dtypes and shapes before ONNX Runtime sees them, and a model with a
static batch dimension is called with batches of exactly that size. Models the handler cannot
serve (non-tensor inputs, outputs declared without a batch axis) are refused at load.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, StrictInt

from ..core.blocks import Block
from ..core.config import HandlerConfig
from ..core.errors import DeviceError, InputError, ModelLoadError
from ..core.handler import ModelHandler
from ..plugins.hookspecs import Register, hookimpl
from ._support import (
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
    utf8_strings,
    warn_once,
)
from .storage import local_model

Feed = dict[str, np.ndarray[Any, Any]]
Columns = np.ndarray[Any, Any] | Mapping[str, np.ndarray[Any, Any]]
Outputs = dict[str, np.ndarray[Any, Any]]

_CPU = "CPUExecutionProvider"
_CUDA = "CUDAExecutionProvider"

# ONNX tensor element types as onnxruntime names them, and the numpy dtype of each.
_DTYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class OnnxConfig(HandlerConfig):
    """Config of the ``onnx`` handler."""

    default_max_batch_size = 1024

    path: str = Field(
        description="Path of the .onnx model file, or a URL that Beam's FileSystems reads "
        "(s3://, gs://, ...), fetched once per process (see infergraph.handlers.storage)."
    )
    providers: list[str] | None = Field(
        default=None,
        description="ONNX Runtime execution providers in priority order; by default derived "
        "from `device` (CUDAExecutionProvider with device_id for a GPU, else CPU).",
    )
    provider_options: list[dict[str, Any]] | None = Field(
        default=None,
        description="Options for each provider in `providers` (same length).",
    )
    output_names: list[str] | None = Field(
        default=None, description="Outputs to compute; all of the model's outputs by default."
    )
    intra_op_threads: StrictInt = Field(
        default=0, ge=0, description="Threads inside one operator; 0 lets ONNX Runtime choose."
    )
    inter_op_threads: StrictInt = Field(
        default=0, ge=0, description="Threads across operators; 0 lets ONNX Runtime choose."
    )
    graph_optimization: str = Field(
        default="all",
        pattern="^(disable|basic|extended|all)$",
        description="Graph optimization level: disable, basic, extended or all.",
    )


@dataclass(frozen=True)
class OnnxInput:
    """One model input: its numpy dtype, ONNX type name and shape (``None`` for a free axis)."""

    dtype: Any
    type: str
    shape: list[int | None] | None

    def check(self, name: str, array: np.ndarray[Any, Any]) -> None:
        """Raise :class:`InputError` when ``array`` cannot have this input's shape."""
        if self.shape is None:
            return
        fits = len(array.shape) == len(self.shape) and all(
            want is None or want == got for want, got in zip(self.shape, array.shape, strict=True)
        )
        if not fits:
            raise InputError(
                f"input {name!r} expects shape {self.shape} ({self.type}), got a batch of shape "
                f"{list(array.shape)}; each example needs shape {self.shape[1:]}"
            )


@dataclass(frozen=True)
class OnnxModel:
    """A loaded session and what the handler needs to know of its inputs and outputs."""

    session: Any
    inputs: dict[str, OnnxInput]
    outputs: list[str]

    def feed(self, columns: Columns) -> Feed:
        """The session's input feed for collated columns, checked and cast to the model's
        dtypes.

        Raises:
            InputError: a value is not a number (or not of the input's kind), or the batch does
                not have the input's shape.
        """
        if len(self.inputs) == 1:
            ((name, spec),) = self.inputs.items()
            return {name: self._array(name, spec, single_input(columns, name))}
        return {
            name: self._array(name, spec, named_input(columns, name, self.inputs))
            for name, spec in self.inputs.items()
        }

    def fixed_batch_size(self) -> int | None:
        """The static first dimension every input shares, or ``None``."""
        firsts = {spec.shape[0] if spec.shape else None for spec in self.inputs.values()}
        if len(firsts) != 1:
            return None
        (first,) = firsts
        return first

    @staticmethod
    def _array(name: str, spec: OnnxInput, value: Any) -> np.ndarray[Any, Any]:
        array = fit_rank(as_input(value, spec.dtype, name, spec.type), spec.shape)
        if spec.dtype is np.object_:
            array = utf8_strings(array, name)
        spec.check(name, array)
        return array


class OnnxHandler(ModelHandler[Any, Columns, Outputs, Any, OnnxModel]):
    """Runs an ONNX model with ONNX Runtime."""

    Config = OnnxConfig
    accepts_blocks = True
    config: OnnxConfig

    def load(self) -> OnnxModel:
        ort = require(
            "onnxruntime", package="onnxruntime", extra="onnx", purpose="the onnx handler"
        )
        path = Path(local_model(self.config.path, kind="file"))
        if not path.is_file():
            raise ModelLoadError(f"ONNX model {str(path)!r} not found (no such file)")
        providers, options = self._providers(ort)
        try:
            session = ort.InferenceSession(
                str(path),
                self._session_options(ort),
                providers=providers,
                provider_options=options,
            )
        except Exception as exc:
            raise ModelLoadError(
                f"ONNX Runtime could not load {self.config.path!r}: {type(exc).__name__}: {exc}"
            ) from exc
        self._check_placement(session, providers)
        inputs = {i.name: self._input(i) for i in session.get_inputs()}
        model = OnnxModel(session, inputs, self._outputs(session))
        shapes = {o.name: _output_dims(o) for o in session.get_outputs()}
        check_batched(
            {name: shapes[name] for name in model.outputs},
            model.fixed_batch_size(),
            chosen=self.config.output_names is not None,
            owner=f"the ONNX model {self.config.path!r}",
        )
        return model

    def batch(self, examples: Sequence[Any]) -> Columns:
        if isinstance(examples[0], Mapping):
            names = shared_fields(examples)
            return {
                name: stack([e[name] for e in examples], name, numeric=False) for name in names
            }
        return stack(examples, None, numeric=False)

    def batch_block(self, block: Block) -> Columns:
        return block.data

    def run(self, model: OnnxModel, batch: Columns) -> Outputs:
        values = model.session.run(model.outputs, model.feed(batch))
        return {name: _column(value) for name, value in zip(model.outputs, values, strict=True)}

    def postprocess(self, examples: Sequence[Any], outputs: Outputs) -> list[Any]:
        check_rows(outputs, len(examples))
        if len(outputs) == 1:
            return list(next(iter(outputs.values())))
        names = list(outputs)
        return [{name: outputs[name][i] for name in names} for i in range(len(examples))]

    def block_output(self, block: Block, outputs: Outputs) -> Any:
        check_rows(outputs, block.rows)
        return next(iter(outputs.values())) if len(outputs) == 1 else outputs

    def fixed_batch_size(self, model: OnnxModel) -> int | None:
        return model.fixed_batch_size()

    # -- internals ---------------------------------------------------------------------------

    def _input(self, node: Any) -> OnnxInput:
        if node.type not in _DTYPES:
            raise ModelLoadError(
                f"the ONNX model {self.config.path!r} has input {node.name!r} of type "
                f"{node.type}, which the onnx handler cannot feed: it feeds tensors of numbers, "
                "booleans and strings. Export the model with tensor inputs"
            )
        shape = getattr(node, "shape", None)
        dims = [d if isinstance(d, int) and d > 0 else None for d in shape] if shape else None
        return OnnxInput(_DTYPES[node.type], node.type, dims)

    def _outputs(self, session: Any) -> list[str]:
        available = [o.name for o in session.get_outputs()]
        owner = f"the ONNX model {self.config.path!r}"
        return select_outputs(available, self.config.output_names, owner)

    def _providers(self, ort: Any) -> tuple[list[str], list[dict[str, Any]] | None]:
        config = self.config
        if config.providers:
            return list(config.providers), config.provider_options
        wants_gpu = config.device.startswith("gpu") or (
            config.device == "auto" and _CUDA in ort.get_available_providers()
        )
        if not wants_gpu:
            return [_CPU], None
        return [_CUDA, _CPU], [{"device_id": config.gpu_index or 0}, {}]

    def _session_options(self, ort: Any) -> Any:
        # SessionOptions cannot be pickled, so it is built here, on the worker.
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: they surface as exceptions with a message
        options.intra_op_num_threads = self.config.intra_op_threads
        options.inter_op_num_threads = self.config.inter_op_threads
        options.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.config.graph_optimization]
        return options

    def _check_placement(self, session: Any, requested: list[str]) -> None:
        # ONNX Runtime silently drops a GPU provider it cannot use; we do not.
        active = session.get_providers()
        missing = [p for p in requested if p != _CPU and p not in active]
        if not missing or self.config.device == "auto":
            return
        message = (
            f"device {self.config.device!r} for {self.config.path!r} needs {', '.join(missing)}, "
            f"but ONNX Runtime is running on {', '.join(active)}. Install onnxruntime-gpu with a "
            "matching CUDA, or set device='cpu', or allow_cpu_fallback=true"
        )
        if not self.config.allow_cpu_fallback:
            raise DeviceError(message)
        self.fell_back_to_cpu = True
        warn_once(f"onnx-fallback:{self.config.path}", "%s; falling back to the CPU", message)


def _column(value: Any) -> np.ndarray[Any, Any]:
    """An output as an array: a sequence output (a ZipMap's list of label -> probability
    dicts, one per row) becomes a 1-D object array, so that blocks and batches hold arrays."""
    if isinstance(value, np.ndarray):
        return value
    column = np.empty(len(value), dtype=object)
    for i, item in enumerate(value):
        column[i] = item
    return column


def _output_dims(node: Any) -> list[int | None] | None:
    """An output's declared dims, or ``None`` when they say nothing about a batch axis: a
    sequence or map output (a ZipMap's, one map per example), or no shape (ONNX Runtime
    reports a scalar and an unknown shape alike, as ``[]``)."""
    shape = getattr(node, "shape", None)
    if not str(node.type).startswith("tensor(") or not shape:
        return None
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


@hookimpl
def register_handlers(register: Register) -> None:
    """Register the ``onnx`` handler."""
    register("onnx", OnnxHandler)
