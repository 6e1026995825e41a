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
from typing import Any, Protocol

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


class HandlerRegistry(Protocol):
    """What a graph needs of a plugin registry: a handler built by its registered name.

    :class:`Plugins` is one; a test may pass any object with this method.
    """

    def create(self, name: str, /, **options: Any) -> ModelHandler[Any, Any, Any, Any, Any]:
        """The handler registered as ``name``, built with validated ``options``."""
        ...


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
                failed = ", ".join(dict.fromkeys(str(error.plugin) for error in self.errors))
                message += f". Plugins that failed to load: {failed}"
            raise HandlerNotFoundError(message) from None

    def create(self, name: str, /, **options: Any) -> ModelHandler[Any, Any, Any, Any, Any]:
        """Look up ``name`` and build it with validated ``options``.

        The handler is given the name it was asked for (its ``name``, hence its default
        ``model_id``, failure ``node``, metrics namespace and Beam labels), whatever class it
        inherits from or other name the same class is registered under.
        """
        entry = self.get(name)
        config = validate_config(entry.handler_cls.Config, options, name)
        handler = entry.handler_cls(config)
        handler.name = name
        return handler


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
    is left out and recorded in ``Plugins.errors`` (and logged once); the rest keep working.
    Two distributions declaring the same entry-point name are one such error: the first found
    on ``sys.path`` is loaded (as Python imports do), the other is left out, and the error
    names both distributions.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    plugins = Plugins(pm)
    env = os.environ if environ is None else environ
    disabled = {name.strip() for name in env.get(DISABLE_ENV, "").split(",") if name.strip()}
    packages: dict[str, str] = {}  # plugin name -> the package it comes from
    for module_name in builtins:
        packages[module_name] = BUILTIN_PACKAGE
        _add(plugins, module_name, lambda m=module_name: importlib.import_module(m), disabled)
    if entry_points is None:
        entry_points = md.entry_points(group=PROJECT_NAME)
    for ep in entry_points:
        package = distribution_of(ep)
        if ep.name in disabled:
            logger.info("plugin %r is disabled by %s", ep.name, DISABLE_ENV)
        elif ep.name in packages:
            _record(plugins, _clash(ep.name, packages[ep.name], ep), None)
        else:
            packages[ep.name] = package
            source = package if getattr(ep, "dist", None) is not None else None
            _add(plugins, ep.name, ep.load, disabled, source)
    _register_handlers(plugins, packages)
    pm.check_pending()
    return plugins


BUILTIN_PACKAGE = "infergraph (built-in)"
"""The package credited with the built-in handlers."""


def distribution_of(ep: md.EntryPoint) -> str:
    """``name version`` of the distribution declaring ``ep`` (its value when there is none)."""
    dist = getattr(ep, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else ep.value


def _clash(name: str, kept: str, ep: md.EntryPoint) -> PluginError:
    dist = getattr(ep, "dist", None)
    skipped = distribution_of(ep)
    uninstall = f" (pip uninstall {dist.name})" if dist is not None else ""
    return PluginError(
        f"the plugin name {name!r} (an entry point in the {PROJECT_NAME!r} group) is declared "
        f"twice: by {kept}, which is loaded, and by {skipped}, which is not. Plugin names "
        f"must be unique: uninstall one of them{uninstall}, or load neither with "
        f"{DISABLE_ENV}={name}",
        plugin=name,
    )


def _add(
    plugins: Plugins, name: str, load: Any, disabled: set[str], source: str | None = None
) -> None:
    """Import and register one plugin; ``source`` is the distribution it comes from."""
    if name in disabled:
        logger.info("plugin %r is disabled by %s", name, DISABLE_ENV)
        return
    origin = f" (installed by {source})" if source else ""
    try:
        module = load()
    except Exception as exc:
        error = PluginError(f"failed to import: {type(exc).__name__}: {exc}{origin}", plugin=name)
        _record(plugins, error, exc)
        return
    unknown = _unknown_hooks(plugins.manager, module)
    if unknown:
        _record(plugins, PluginError(unknown + origin, plugin=name), None)
        return
    other = plugins.manager.get_name(module)
    if other is not None:
        message = (
            f"points at the module {getattr(module, '__name__', module)!r}{origin}, which is "
            f"already loaded as plugin {other!r}; a module is loaded once: remove one of the "
            f"entry points, or disable one with {DISABLE_ENV}={name}"
        )
        _record(plugins, PluginError(message, plugin=name), None)
        return
    try:
        plugins.manager.register(module, name=name)
    except Exception as exc:
        _record(plugins, PluginError(f"failed to register: {exc}{origin}", plugin=name), exc)


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
        package = packages.get(plugin_name, "?")
        added: dict[str, HandlerEntry] = {}

        def register(
            name: str,
            handler_cls: type[Any],
            _plugin: str = plugin_name,
            _package: str = package,
            added: dict[str, HandlerEntry] = added,
        ) -> None:
            _check_handler_cls(_plugin, name, handler_cls)
            owner = plugins.handlers.get(name) or added.get(name)
            if owner is not None:
                raise DuplicateHandlerError(
                    _duplicate(name, owner, _plugin, _package), plugin=_plugin
                )
            added[name] = HandlerEntry(name, handler_cls, _plugin, _package)

        try:
            impl.function(register=register)
        except PluginError as exc:
            _record(plugins, exc, None)
            plugins.manager.unregister(name=plugin_name)
            continue
        except Exception as exc:
            error = PluginError(f"register_handlers failed: {exc}", plugin=plugin_name)
            _record(plugins, error, exc)
            plugins.manager.unregister(name=plugin_name)
            continue
        plugins.handlers.update(added)


def _duplicate(name: str, owner: HandlerEntry, plugin: str, package: str) -> str:
    if owner.plugin == plugin:
        return f"registers the handler name {name!r} twice; give each handler its own name"
    return (
        f"handler name {name!r} is already registered by plugin {owner.plugin!r} "
        f"({owner.package}); this plugin is from {package}. Handler names must be unique: "
        f"rename one of the handlers, uninstall one of the distributions, or disable this "
        f"plugin with {DISABLE_ENV}={plugin}"
    )


def _check_handler_cls(plugin: str, name: str, handler_cls: Any) -> None:
    if not (inspect.isclass(handler_cls) and issubclass(handler_cls, ModelHandler)):
        raise PluginError(
            f"registered {name!r} as {handler_cls!r}, which is not a ModelHandler subclass",
            plugin=plugin,
        )
    if inspect.isabstract(handler_cls):
        missing = ", ".join(sorted(handler_cls.__abstractmethods__))
        raise PluginError(f"handler {name!r} does not implement: {missing}", plugin=plugin)


def _record(plugins: Plugins, error: PluginError, cause: BaseException | None) -> None:
    error.__cause__ = cause
    plugins.errors.append(error)
    logger.warning("%s", error)
