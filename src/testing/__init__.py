"""A conformance suite for handler authors: run it against your handler in your tests.

Two forms. A pytest base class, one test per rule (see :class:`HandlerConformance`)::

    class TestMyHandler(HandlerConformance):
        handler = MyHandler(path="model.onnx")
        good_examples = [x1, x2, x3]
        bad_examples = [wrong_shape, None]

and a function for one test on good examples (see :func:`check_handler`)::

    check_handler(MyHandler(path="model.onnx"), [x1, x2, x3])

They check what every execution path relies on: every config field has a description (the
schema and docs show it), the handler and its config pickle (Beam ships them to workers), the
model loads once, the four stages return one prediction per example, keys and order survive,
bad examples fail alone with a message, threads can share the loaded model, and the in-process
and Beam paths give the same results.
"""

from __future__ import annotations

from .checks import (
    check_config_descriptions,
    check_handler,
    outputs_close,
    outputs_equal,
    run_on_beam,
)
from .conformance import HandlerConformance

__all__ = [
    "HandlerConformance",
    "check_config_descriptions",
    "check_handler",
    "outputs_close",
    "outputs_equal",
    "run_on_beam",
]
