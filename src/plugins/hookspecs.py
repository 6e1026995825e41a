"""The hooks a plugin may implement. These docstrings are the reference documentation."""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

PROJECT_NAME = "infergraph"
"""The pluggy project name and the entry-point group plugins register under."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callable a plugin's ``register_handlers`` receives."""

    def __call__(self, name: str, handler_cls: type[Any]) -> None:
        """Register ``handler_cls`` (a ``ModelHandler`` subclass) under ``name``."""


@hookspec
def register_handlers(register: Register) -> None:
    """Register model handlers.

    Call ``register(name, HandlerClass)`` once per handler. A name already taken by another
    plugin raises :class:`infergraph.DuplicateHandlerError` naming both plugins and their
    distributions; the plugin is then left out. Each handler the registry creates is given the
    name it was asked for, so one class may be registered under several names, or subclassed
    and the subclass registered too.

    Example::

        from infergraph import hookimpl

        @hookimpl
        def register_handlers(register):
            register("scale", ScaleHandler)
    """
