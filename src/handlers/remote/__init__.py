"""The ``remote`` handler family: prediction endpoints over HTTPS.

Modules, from the bottom up: ``retry`` (backoff, Retry-After, throttling), ``breaker`` (the
circuit breaker per endpoint), ``auth`` (tokens and Google credentials), ``config``
(:class:`RemoteConfig`), ``protocols`` (the JSON instance formats) and ``v2`` (the Open
Inference Protocol), ``transport`` (one HTTP POST within a deadline), ``outcomes`` (the
errors of a request that ended), ``client`` (requests, splitting, retries, poison pills) and
``handler`` (:class:`RemoteHandler`). Nothing imports back up.
"""

from __future__ import annotations

from .config import RemoteConfig
from .handler import RemoteHandler, register_handlers

__all__ = ["RemoteConfig", "RemoteHandler", "register_handlers"]
