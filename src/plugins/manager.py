"""Building the plugin manager: built-ins, entry points, blocking, isolation, a typed facade."""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata as md
import inspect
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from ..core.config import validate_config
from ..core.errors import DuplicateHandlerError, HandlerNotFoundError, PluginError
from ..core.handler import ModelHandler
from . import hookspecs
from .builtin import BUILTIN_PLUGINS
from .hookspecs import PROJECT_NAME

logger = logging.getLogger("infergraph")

DISABLE_ENV = "INFERGRAPH_DISABLE_PLUGINS"
"""Comma-separated plugin (entry-point) names that are not loaded."""

_HOOK_NAMES = frozenset(
    name for name, value in vars(hookspecs).items() if hasattr(value, f"{PROJECT_NAME}_spec")
)


@dataclass(frozen=True)
class HandlerEntry:
    """A registered handler and where it came from."""

    name: str
    handler_cls: type[ModelHandler[Any, Any, Any, Any, Any]]
    plugin: str
    package: str


@dataclass
class Plugins:
    """The loaded plugins: a typed facade over the pluggy manager.

    Attributes:
        manager: The underlying :class:`pluggy.PluginManager`.
        handlers: Registered handlers by name.
        errors: Plugins that failed to import or register; the others still work.
    """

    manager: pluggy.PluginManager
    handlers: dict[str, HandlerEntry] = field(default_factory=dict)
    errors: list[PluginError] = field(default_factory=list)

    def get(self, name: str) -> HandlerEntry:
        """The handler registered as ``name``.

        Raises:
            HandlerNotFoundError: listing the registered names (and failed plugins).
        """
        try:
            return self.handlers[name]
        except KeyError:
            known = ", ".join(sorted(self.handlers)) or "none"
            hint = difflib.get_close_matches(name, self.handlers, n=1)
            message = f"no handler named {name!r}; registered handlers: {known}"
            if hint:
                message += f". Did you mean {hint[0]!r}?"
            if self.errors:
                failed = ", ".join(error.plugin for error in self.errors)
                message += f". Plugins that failed to load: {failed}"
            raise HandlerNotFoundError(message) from None

    def create(self, name: str, /, **options: Any) -> ModelHandler[Any, Any, Any, Any, Any]:
        """Look up ``name`` and build it with validated ``options``."""
        entry = self.get(name)
        config = validate_config(entry.handler_cls.Config, options, name)
        return entry.handler_cls(config)


def get_plugin_manager(
    *,
    entry_points: Iterable[md.EntryPoint] | None = None,
    builtins: Iterable[str] = BUILTIN_PLUGINS,
    environ: Mapping[str, str] | None = None,
) -> Plugins:
    """Build a plugin manager with the built-in handlers and every installed plugin.

    Args:
        entry_points: Plugins to load; defaults to the installed ``infergraph`` entry points.
        builtins: Modules of built-in handler plugins.
        environ: Where to read ``INFERGRAPH_DISABLE_PLUGINS`` (defaults to ``os.environ``).

    A plugin that fails to import, declares an unknown hook, or fails in ``register_handlers``
    is left out and recorded in ``Plugins.errors`` (and logged); the rest keep working.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm)
    env = os.environ if environ is None else environ
    disabled = {name.strip() for name in env.get(DISABLE_ENV, "").split(",") if name.strip()}
    packages: dict[str, str] = {}
    for module_name in builtins:
        _add(plugins, module_name, lambda m=module_name: importlib.import_module(m), disabled)
        packages[module_name] = "infergraph (built-in)"
    if entry_points is None:
        entry_points = md.entry_points(group=PROJECT_NAME)
    for ep in entry_points:
        _add(plugins, ep.name, ep.load, disabled)
        dist = getattr(ep, "dist", None)
        packages[ep.name] = f"{dist.name} {dist.version}" if dist else ep.value
    _register_handlers(plugins, packages)
    pm.check_pending()
    return plugins


def _add(plugins: Plugins, name: str, load: Any, disabled: set[str]) -> None:
    if name in disabled:
        logger.info("plugin %r is disabled by %s", name, DISABLE_ENV)
        return
    try:
        module = load()
    except Exception as exc:
        _record(plugins, PluginError(name, f"failed to import: {type(exc).__name__}: {exc}"), exc)
        return
    unknown = _unknown_hooks(plugins.manager, module)
    if unknown:
        _record(plugins, PluginError(name, unknown), None)
        return
    try:
        plugins.manager.register(module, name=name)
    except Exception as exc:
        _record(plugins, PluginError(name, f"failed to register: {exc}"), exc)


def _unknown_hooks(pm: pluggy.PluginManager, module: ModuleType | object) -> str:
    problems = []
    for attr in dir(module):
        if pm.parse_hookimpl_opts(module, attr) is None or attr in _HOOK_NAMES:
            continue
        hint = difflib.get_close_matches(attr, _HOOK_NAMES, n=1)
        fix = f"; did you mean {hint[0]!r}?" if hint else ""
        problems.append(f"implements unknown hook {attr!r}{fix}")
    if problems:
        return "; ".join(problems) + f". Known hooks: {', '.join(sorted(_HOOK_NAMES))}"
    return ""


def _register_handlers(plugins: Plugins, packages: Mapping[str, str]) -> None:
    for impl in plugins.manager.hook.register_handlers.get_hookimpls():
        plugin_name = impl.plugin_name
        added: dict[str, HandlerEntry] = {}

        def register(
            name: str,
            handler_cls: type[Any],
            _plugin: str = plugin_name,
            added: dict[str, HandlerEntry] = added,
        ) -> None:
            _check_handler_cls(_plugin, name, handler_cls)
            owner = plugins.handlers.get(name) or added.get(name)
            if owner is not None:
                raise DuplicateHandlerError(
                    _plugin,
                    f"handler name {name!r} is already registered by plugin {owner.plugin!r}; "
                    "rename one of them or disable a plugin with "
                    f"{DISABLE_ENV}={_plugin}",
                )
            added[name] = HandlerEntry(name, handler_cls, _plugin, packages.get(_plugin, "?"))

        try:
            impl.function(register=register)
        except PluginError as exc:
            _record(plugins, exc, None)
            plugins.manager.unregister(name=plugin_name)
            continue
        except Exception as exc:
            _record(plugins, PluginError(plugin_name, f"register_handlers failed: {exc}"), exc)
            plugins.manager.unregister(name=plugin_name)
            continue
        for name, entry in added.items():
            if not entry.handler_cls.name:
                entry.handler_cls.name = name
            plugins.handlers[name] = entry


def _check_handler_cls(plugin: str, name: str, handler_cls: Any) -> None:
    if not (inspect.isclass(handler_cls) and issubclass(handler_cls, ModelHandler)):
        raise PluginError(
            plugin, f"registered {name!r} as {handler_cls!r}, which is not a ModelHandler subclass"
        )
    if inspect.isabstract(handler_cls):
        missing = ", ".join(sorted(handler_cls.__abstractmethods__))
        raise PluginError(plugin, f"handler {name!r} does not implement: {missing}")


def _record(plugins: Plugins, error: PluginError, cause: BaseException | None) -> None:
    error.__cause__ = cause
    plugins.errors.append(error)
    logger.warning("%s", error)
