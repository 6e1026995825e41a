"""Out-of-memory errors: recognise them, and remember a lower batch limit per model.

When a model call fails because an allocation failed (TensorFlow's ``ResourceExhaustedError``,
ONNX Runtime's "Failed to allocate memory", CUDA's out-of-memory, Python's ``MemoryError``),
the batch is halved and retried instead of failing its elements, and the smaller size is kept
as the model's batch limit for the rest of the process (:data:`BATCH_CAPS`).
"""

from __future__ import annotations

import re
import threading

from .errors import InfergraphError

_TYPE_NAMES = frozenset({"ResourceExhaustedError", "OutOfMemoryError", "OOMError"})
_MESSAGES = re.compile(
    r"out of memory|failed to allocate memory|oom when allocating|resource_?exhausted"
    r"|cuda_error_out_of_memory|cudaerrormemoryallocation|std::bad_alloc"
    r"|available memory of \d+ is smaller than requested bytes",
    re.IGNORECASE,
)


def looks_like_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation failure of the model's runtime.

    Recognised by type (``MemoryError``, or a class named ``ResourceExhaustedError`` or
    ``OutOfMemoryError`` in its hierarchy) or by the runtimes' messages. infergraph's own
    errors (an endpoint's ``BatchError``, say) never count: they are already classified.
    """
    if isinstance(exc, InfergraphError):
        return False
    if isinstance(exc, MemoryError):
        return True
    if any(cls.__name__ in _TYPE_NAMES for cls in type(exc).__mro__):
        return True
    try:
        text = str(exc)
    except Exception:
        return False
    return bool(_MESSAGES.search(text))


class BatchCaps:
    """Per-process batch limits learnt from out-of-memory errors, by handler cache key.

    A limit only goes down; it lasts for the process (call :meth:`clear` to forget them).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._caps: dict[str, int] = {}

    def get(self, key: str) -> int | None:
        """The learnt limit of the model ``key``, or ``None``."""
        return self._caps.get(key)

    def lower(self, key: str, size: int) -> int:
        """Lower the limit of ``key`` to ``size`` (at least 1) unless it is already lower."""
        size = max(1, size)
        with self._lock:
            current = self._caps.get(key)
            if current is None or size < current:
                self._caps[key] = current = size
            return current

    def clear(self) -> None:
        """Forget every learnt limit."""
        with self._lock:
            self._caps.clear()


BATCH_CAPS = BatchCaps()
