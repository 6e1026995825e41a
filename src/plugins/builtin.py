"""The built-in handlers: ordinary plugins, registered through the same hook as third parties."""

from __future__ import annotations

BUILTIN_PLUGINS: tuple[str, ...] = (
    "infergraph.handlers.beam_bridge",
    "infergraph.handlers.many",
    "infergraph.handlers.onnx",
    "infergraph.handlers.remote",
    "infergraph.handlers.tensorflow",
)
"""Modules (each with a ``register_handlers`` hookimpl) loaded into every plugin manager."""
