"""Retry timing for the ``remote`` handler: backoff with full jitter, Retry-After, throttling."""

from __future__ import annotations

import collections
import email.utils
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Clock = Callable[[], float]
Random = Callable[[], float]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth another attempt: overload and transient server errors."""

OVERLOAD_STATUSES = frozenset({429, 503})
"""Statuses that count as a rejected request for adaptive throttling."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: retry ``n`` waits ``uniform(0, min(max, base*2**n))``.

    Attributes:
        initial_s: The ceiling of the first wait.
        max_s: The largest ceiling of any wait.
    """

    initial_s: float
    max_s: float

    def delay(self, attempt: int, random: Random, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry).

        A ``Retry-After`` from the server is a floor: the wait is never shorter than it asks.
        """
        ceiling = min(self.max_s, self.initial_s * math.pow(2, min(attempt, 60)))
        jittered = random() * ceiling
        if retry_after_s is None:
            return jittered
        return max(retry_after_s, jittered)


def parse_retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent.

    Example:
        >>> parse_retry_after("2")
        2.0
        >>> parse_retry_after("soon") is None
        True
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


class AdaptiveThrottler:
    """Client-side adaptive throttling (the SRE book's formula, as Apache Beam applies it).

    Over a sliding window the client counts requests it meant to send and requests the server
    accepted (anything but an overload answer). A new request is held back with probability
    ``max(0, (requests - k * accepts) / (requests + 1))``: under sustained 429s the client
    backs off on its own, and it recovers as soon as the server accepts again. Held-back
    requests count as requests (as in the formula); so that a couple of stray 429s at low
    traffic cannot feed that loop, nothing is held back until the window holds at least
    ``min_rejects`` overload answers.

    Args:
        window_s: Length of the sliding window in seconds.
        k: The overload ratio; requests may exceed accepts by this factor before throttling.
        clock: Monotonic clock in seconds.
        random: Uniform random numbers in ``[0, 1)``.
        min_rejects: Overload answers the window needs before any request is held back.
    """

    def __init__(
        self, window_s: float, k: float, *, clock: Clock, random: Random, min_rejects: int = 5
    ) -> None:
        self.window_s = window_s
        self.k = k
        self.min_rejects = min_rejects
        self._clock = clock
        self._random = random
        self._lock = threading.Lock()
        # (time, outcome): outcome is "accepted", "rejected" or "held" (held back here).
        self._events: collections.deque[tuple[float, str]] = collections.deque()
        self._counts: collections.Counter[str] = collections.Counter()

    def probability(self) -> float:
        """The current probability of holding a request back."""
        with self._lock:
            self._prune(self._clock())
            return self._probability()

    def should_throttle(self) -> bool:
        """Whether to hold the next request back; a held-back request counts as a request."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            if self._counts["rejected"] < self.min_rejects:
                return False
            throttle = self._random() < self._probability()
            if throttle:
                self._add(now, "held")
            return throttle

    def record(self, *, accepted: bool) -> None:
        """Count a request that reached the server, accepted or rejected as overloaded."""
        with self._lock:
            now = self._clock()
            self._prune(now)
            self._add(now, "accepted" if accepted else "rejected")

    def _probability(self) -> float:
        requests = self._counts.total()
        return max(0.0, (requests - self.k * self._counts["accepted"]) / (requests + 1))

    def _add(self, now: float, outcome: str) -> None:
        self._events.append((now, outcome))
        self._counts[outcome] += 1

    def _prune(self, now: float) -> None:
        horizon = now - self.window_s
        while self._events and self._events[0][0] < horizon:
            _, outcome = self._events.popleft()
            self._counts[outcome] -= 1
