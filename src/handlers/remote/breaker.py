"""A circuit breaker per endpoint and process: stop waiting on an endpoint that is down.

States: ``closed`` (requests go out), ``open`` (requests fail at once with
:class:`~infergraph.CircuitOpenError`) and ``half_open`` (one probe request goes out; the
others fail at once until it answers). The breaker opens after ``failures`` consecutive requests
exhaust their retries; ``cooldown_s`` later it half-opens; a probe that gets an answer from the
endpoint closes it, a probe that fails opens it again for another cool-down.

The breaker also remembers when the endpoint last answered a request, the evidence the client
needs before it bisects a request that keeps failing (a poison pill, not an outage).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import Counter
from typing import Any, Literal

from .retry import Clock

logger = logging.getLogger("infergraph")

State = Literal["closed", "open", "half_open"]

_TRANSITIONS: dict[State, str] = {
    "open": "breaker_opened",
    "half_open": "breaker_half_opened",
    "closed": "breaker_closed",
}


class CircuitBreaker:
    """The breaker of one endpoint, shared by every client of that endpoint in the process.

    Args:
        url: The endpoint (for messages).
        failures: Consecutive exhausted requests that open the breaker.
        cooldown_s: Seconds an open breaker waits before it lets a probe through.
        clock: Monotonic clock in seconds.
        enabled: When ``False`` the breaker never refuses a request (it still keeps the
            evidence of answered requests).
    """

    def __init__(
        self, url: str, failures: int, cooldown_s: float, *, clock: Clock, enabled: bool = True
    ) -> None:
        self.url = url
        self.failures = failures
        self.cooldown_s = cooldown_s
        self.enabled = enabled
        self._clock = clock
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._consecutive = 0
        self._opened_at = 0.0
        self._probing = False
        self._last_answer: float | None = None
        self._counts: Counter[str] = Counter()

    @property
    def state(self) -> State:
        """``closed``, ``open`` or ``half_open`` (an open breaker past its cool-down reads open
        until a request asks to go through)."""
        with self._lock:
            return self._state

    def counts(self) -> dict[str, int]:
        """Transitions and refusals so far: ``breaker_opened``, ``breaker_half_opened``,
        ``breaker_closed``, ``breaker_rejected``."""
        with self._lock:
            return dict(self._counts)

    # -- before a request ----------------------------------------------------------------------

    def admit(self) -> tuple[bool, str | None]:
        """Whether the next attempt may go out: ``(is_probe, None)``, or ``(False, why not)``.

        A caller granted a probe must report its outcome (:meth:`answered`, :meth:`failed`) or
        give it back (:meth:`abandon`).
        """
        if not self.enabled:
            return False, None
        with self._lock:
            now = self._clock()
            if self._state == "open" and now - self._opened_at >= self.cooldown_s:
                self._move("half_open", "cool-down over; the next request probes the endpoint")
            if self._state == "half_open" and not self._probing:
                self._probing = True
                return True, None
            if self._state == "closed":
                return False, None
            self._counts["breaker_rejected"] += 1
            return False, self._refusal(now)

    def _refusal(self, now: float) -> str:
        since = now - self._opened_at
        if self._state == "half_open":
            when = "a probe request is in flight; requests fail at once until it is answered"
        else:
            when = f"it probes the endpoint again in {self.cooldown_s - since:.1f}s"
        return (
            f"endpoint {self.url} is down: its circuit breaker opened {since:.1f}s ago, after "
            f"{self.failures} consecutive requests exhausted their retries, and {when}. Check "
            "the endpoint, or set circuit_breaker=false to wait out every request's retries"
        )

    # -- after an attempt or a request ---------------------------------------------------------

    def answered(self, probe: bool) -> None:
        """The endpoint answered (any status but an overload or a server error): it is up."""
        with self._lock:
            self._last_answer = self._clock()
            self._consecutive = 0
            if probe:
                self._probing = False
            if self._state != "closed" and self.enabled:
                self._move("closed", "the endpoint answered")

    def failed(self, probe: bool) -> None:
        """An attempt got no usable answer (5xx, 429, a timeout, a reset)."""
        if not probe:
            return
        with self._lock:
            self._probing = False
            self._open("the probe request failed")

    def abandon(self, probe: bool) -> None:
        """A granted probe never reached the endpoint: let the next request probe instead."""
        if probe:
            with self._lock:
                self._probing = False

    def exhausted(self, since: float) -> None:
        """A request started at ``since`` exhausted its retries (or its deadline).

        It counts towards opening the breaker only if the endpoint answered no request since:
        a request that fails while others are answered is a problem of its own (a poison pill),
        not an outage.
        """
        with self._lock:
            if self._last_answer is not None and self._last_answer >= since:
                return
            self._consecutive += 1
            if self.enabled and self._state == "closed" and self._consecutive >= self.failures:
                self._open(f"{self._consecutive} consecutive requests exhausted their retries")

    def answered_since(self, since: float) -> bool:
        """Whether the endpoint answered some request at or after ``since`` (clock seconds)."""
        with self._lock:
            return self._last_answer is not None and self._last_answer >= since

    def is_closed(self) -> bool:
        """Whether requests go out freely (always, for a disabled breaker)."""
        with self._lock:
            return self._state == "closed"

    # -- transitions -------------------------------------------------------------------------

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._move("open", f"{reason}; failing requests at once for {self.cooldown_s:g}s")

    def _move(self, state: State, reason: str) -> None:
        if state == self._state:
            return
        self._state = state
        self._counts[_TRANSITIONS[state]] += 1
        level = logging.WARNING if state == "open" else logging.INFO
        logger.log(level, "circuit breaker of %s %s: %s", self.url, state.replace("_", "-"), reason)


_REGISTRY: weakref.WeakValueDictionary[tuple[Any, ...], CircuitBreaker] = (
    weakref.WeakValueDictionary()
)
_REGISTRY_LOCK = threading.Lock()


def breaker_for(
    url: str, failures: int, cooldown_s: float, *, clock: Clock, enabled: bool
) -> CircuitBreaker:
    """The process's breaker of ``url`` (with these settings and this clock), made on first use.

    A breaker lives while some client holds it; clients of one endpoint share it.
    """
    key = (url, failures, cooldown_s, enabled, clock)
    with _REGISTRY_LOCK:
        breaker = _REGISTRY.get(key)
        if breaker is None:
            breaker = CircuitBreaker(url, failures, cooldown_s, clock=clock, enabled=enabled)
            _REGISTRY[key] = breaker
        return breaker
