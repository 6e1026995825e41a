"""``infergraph inspect``: a model's signatures, inputs and outputs, with dtypes and shapes.

SavedModels are read from ``saved_model.pb`` without loading the model (like
``saved_model_cli show --all``); ONNX models through an ONNX Runtime session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import ModelLoadError
from ._support import require


def describe_model(path: str) -> str:
    """A readable description of the SavedModel directory or ``.onnx`` file at ``path``.

    Raises:
        ModelLoadError: ``path`` does not exist, is neither kind of model, or cannot be read.
        MissingDependencyError: TensorFlow (SavedModels) or onnxruntime (ONNX) is missing.
    """
    target = Path(path)
    if target.is_dir():
        if (target / "saved_model.pb").is_file():
            return _describe_saved_model(target)
        raise ModelLoadError(f"{path!r} is a directory without saved_model.pb: not a SavedModel")
    if target.is_file():
        return _describe_onnx(target)
    raise ModelLoadError(f"model {path!r} not found (no such file or directory)")


def _describe_saved_model(path: Path) -> str:
    require(
        "tensorflow", package="tensorflow", extra="tensorflow", purpose="inspecting a SavedModel"
    )
    from tensorflow.core.framework import types_pb2  # noqa: PLC0415 (tensorflow: optional)
    from tensorflow.core.protobuf import saved_model_pb2  # noqa: PLC0415 (tensorflow: optional)

    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception as exc:
        raise ModelLoadError(
            f"could not read the SavedModel {str(path)!r}: {type(exc).__name__}: {exc}"
        ) from exc
    lines = [f"SavedModel: {path}"]
    for meta_graph in saved.meta_graphs:
        tags = ", ".join(meta_graph.meta_info_def.tags) or "(none)"
        lines += ["", f"MetaGraph with tags: {tags}"]
        for name in sorted(meta_graph.signature_def):
            signature = meta_graph.signature_def[name]
            lines += ["", f"signature_def[{name!r}]:", f"  method: {signature.method_name}"]
            for title, tensors in (("inputs", signature.inputs), ("outputs", signature.outputs)):
                lines.append(f"  {title}:")
                for alias in sorted(tensors):
                    info = tensors[alias]
                    dtype = types_pb2.DataType.Name(info.dtype)
                    lines.append(
                        f"    {alias!r}: dtype {dtype}, shape {_tf_shape(info.tensor_shape)}, "
                        f"name {info.name}"
                    )
        if not meta_graph.signature_def:
            lines.append("  (no signatures)")
    return "\n".join(lines)


def _tf_shape(shape: Any) -> str:
    if shape.unknown_rank:
        return "unknown rank"
    return "(" + ", ".join(str(dim.size) for dim in shape.dim) + ")"


def _describe_onnx(path: Path) -> str:
    ort = require("onnxruntime", package="onnxruntime", extra="onnx", purpose="inspecting ONNX")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(
            f"ONNX Runtime could not read {str(path)!r}: {type(exc).__name__}: {exc}"
        ) from exc
    meta = session.get_modelmeta()
    lines = [f"ONNX model: {path}", f"producer: {meta.producer_name or '(unknown)'}", "inputs:"]
    lines += [_onnx_arg(arg) for arg in session.get_inputs()]
    lines.append("outputs:")
    lines += [_onnx_arg(arg) for arg in session.get_outputs()]
    return "\n".join(lines)


def _onnx_arg(arg: Any) -> str:
    shape = ", ".join("-1" if not isinstance(d, int) else str(d) for d in arg.shape)
    symbolic = [d for d in arg.shape if isinstance(d, str)]
    named = f" (dims {', '.join(symbolic)})" if symbolic else ""
    return f"  {arg.name!r}: dtype {arg.type}, shape ({shape}){named}"
