"""The ``remote`` handler family: prediction endpoints over HTTPS.

Modules, from the bottom up: ``retry`` (backoff, Retry-After, throttling), ``auth`` (tokens and
Google credentials), ``config`` (:class:`RemoteConfig`), ``protocols`` (the wire formats),
``client`` (requests, splitting, retries) and ``handler`` (:class:`RemoteHandler`). Nothing
imports back up.
"""

from __future__ import annotations

from .config import RemoteConfig
from .handler import RemoteHandler, register_handlers

__all__ = ["RemoteConfig", "RemoteHandler", "register_handlers"]
