"""Plugin discovery with pluggy: hook specs and the plugin manager."""

from __future__ import annotations

from .hookspecs import PROJECT_NAME, hookimpl, hookspec
from .manager import DISABLE_ENV, HandlerEntry, HandlerRegistry, Plugins, get_plugin_manager

__all__ = [
    "DISABLE_ENV",
    "PROJECT_NAME",
    "HandlerEntry",
    "HandlerRegistry",
    "Plugins",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
]
