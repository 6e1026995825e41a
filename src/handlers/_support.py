"""Small helpers the built-in handlers share: lazy imports and device fallback warnings."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

from ..core.errors import InputError, MissingDependencyError

logger = logging.getLogger("infergraph")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def require(module: str, *, package: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency or say which ``pip install 'infergraph[extra]'`` to run."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError.for_extra(package, extra, purpose) from exc


def warn_once(key: str, message: str, *args: Any) -> None:
    """Log ``message`` at WARNING the first time ``key`` is seen in this process."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message, *args)


def single_input(example: Any, name: str, owner: str = "model") -> Any:
    """The value for a one-input ``owner``: the example, its field ``name``, or its only field."""
    if isinstance(example, Mapping):
        if name in example:
            return example[name]
        if len(example) == 1:
            return next(iter(example.values()))
        raise InputError(
            f"the {owner} has one input {name!r}; the example has fields "
            f"{sorted(example)}: pass an array, or a dict with {name!r} or a single field"
        )
    return example


def named_input(example: Any, name: str, inputs: Mapping[str, Any], owner: str = "model") -> Any:
    """The field ``name`` of a dict example for a multi-input ``owner``."""
    if not isinstance(example, Mapping):
        raise InputError(
            f"the {owner} has inputs {sorted(inputs)}: pass a dict of arrays by input name, "
            f"got {type(example).__name__}"
        )
    try:
        return example[name]
    except KeyError:
        raise InputError(
            f"the example lacks input {name!r}; the {owner}'s inputs are {sorted(inputs)}, "
            f"the example has {sorted(example)}"
        ) from None


def shared_fields(examples: Sequence[Any]) -> list[str]:
    """The field names every dict example of a batch has, in the first example's order.

    Raises:
        InputError: an example is not a dict, or has other fields (order does not matter).
    """
    names = examples[0].keys()
    for example in examples:
        if not isinstance(example, Mapping) or example.keys() != names:
            got = sorted(example) if isinstance(example, Mapping) else type(example).__name__
            raise InputError(
                f"every example in a batch needs the fields {sorted(names)}; got {got}"
            )
    return list(names)
