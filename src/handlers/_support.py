"""Small helpers the built-in handlers share: lazy imports and device fallback warnings."""

from __future__ import annotations

import importlib
import logging
import threading
from types import ModuleType
from typing import Any

from ..core.errors import MissingDependencyError

logger = logging.getLogger("infergraph")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def require(module: str, *, package: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency or say which ``pip install 'infergraph[extra]'`` to run."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(package, extra, purpose) from exc


def warn_once(key: str, message: str, *args: Any) -> None:
    """Log ``message`` at WARNING the first time ``key`` is seen in this process."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)
