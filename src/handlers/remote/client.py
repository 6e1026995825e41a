"""The loaded "model" of the ``remote`` handler: a pooled HTTP client that sends wire requests.

One :class:`RemoteClient` per worker process, shared by its threads. It packs a batch into
requests within the instance and byte limits, sends them from a small thread pool (one
``requests.Session`` per thread, each with its own connection pool), retries transient faults,
splits requests the endpoint finds too large, and returns exactly one prediction or one
exception per example, in the batch's order.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ...core.errors import EndpointUnavailableError, InferenceError, RequestRejectedError
from .._support import require
from .auth import Auth
from .protocols import Protocol, ResponseError, encoded_size, server_message
from .retry import (
    OVERLOAD_STATUSES,
    RETRYABLE_STATUSES,
    AdaptiveThrottler,
    Backoff,
    Clock,
    Random,
    parse_retry_after,
)

if TYPE_CHECKING:
    from .config import RemoteConfig

logger = logging.getLogger("infergraph")

Sleep = Callable[[float], None]


class _Retry(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(self, status: int | None, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class RemoteStats:
    """Thread-safe counters of what the client did (requests, retries, splits, throttled)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, name: str, value: int = 1) -> None:
        """Add ``value`` to the counter ``name``."""
        with self._lock:
            self._counts[name] += value

    def snapshot(self) -> dict[str, int]:
        """A copy of the counters."""
        with self._lock:
            return dict(self._counts)


class RemoteClient:
    """Sends batches to one endpoint. Built by ``RemoteHandler.load``; opens nothing until used.

    Args:
        config: The handler's config.
        protocol: The configured wire protocol.
        auth: Gives the ``Authorization`` header of each request.
        clock: Monotonic clock in seconds (deadlines, throttling window).
        sleep: Waits between attempts.
        random: Uniform random numbers in ``[0, 1)`` (jitter, throttling).
    """

    def __init__(
        self,
        config: RemoteConfig,
        protocol: Protocol,
        auth: Auth,
        *,
        clock: Clock,
        sleep: Sleep,
        random: Random,
    ) -> None:
        self.config = config
        self.protocol = protocol
        self.auth = auth
        self.url = protocol.url
        self.stats = RemoteStats()
        self.throttler = AdaptiveThrottler(
            config.throttle_window_s,
            config.throttle_k,
            clock=clock,
            random=random,
            min_rejects=config.throttle_min_rejects,
        )
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self._clock, self._sleep, self._random = clock, sleep, random
        self._local = threading.local()
        self._pool_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    # -- batches -----------------------------------------------------------------------------

    def predict(self, examples: Sequence[Any]) -> list[Any]:
        """One prediction, or one exception, per example, in order."""
        outputs: list[Any] = [None] * len(examples)
        positions: list[int] = []
        instances: list[Any] = []
        sizes: list[int] = []
        for i, example in enumerate(examples):
            try:
                instance = self.protocol.encode(example)
                sizes.append(encoded_size(instance))
            except (InferenceError, TypeError, ValueError) as exc:
                outputs[i] = exc
                continue
            positions.append(i)
            instances.append(instance)
        deadline = self._clock() + self.config.deadline_s
        requests = self._pack(sizes)
        if len(requests) == 1 or self.config.concurrency == 1:
            answers = [self._send_safely([instances[j] for j in r], deadline) for r in requests]
        else:
            pool = self._executor()
            futures: list[Future[list[Any]]] = [
                pool.submit(self._send_safely, [instances[j] for j in r], deadline)
                for r in requests
            ]
            answers = [future.result() for future in futures]
        for request, answer in zip(requests, answers, strict=True):
            for j, output in zip(request, answer, strict=True):
                outputs[positions[j]] = output
        return outputs

    def _pack(self, sizes: Sequence[int]) -> list[list[int]]:
        """Consecutive instance indices grouped within the instance and byte limits."""
        limit, budget = self.config.max_instances_per_request, self.config.max_request_bytes
        requests: list[list[int]] = []
        current: list[int] = []
        used = 0
        for j, size in enumerate(sizes):
            if current and (len(current) >= limit or used + size > budget):
                requests.append(current)
                current, used = [], 0
            current.append(j)
            used += size
        if current:
            requests.append(current)
        return requests

    # -- one request -------------------------------------------------------------------------

    def _send_safely(self, instances: list[Any], deadline: float) -> list[Any]:
        try:
            return self._send(instances, deadline)
        except Exception as exc:  # a failed token refresh, say: fail these instances, not others
            return [exc] * len(instances)

    def _send(self, instances: list[Any], deadline: float) -> list[Any]:
        """Send ``instances`` with retries; one prediction or exception per instance."""
        started = self._clock()
        attempt = 0
        while True:
            try:
                self._wait_for_throttle(deadline)
                return self._attempt(instances, deadline)
            except _Retry as retry:
                delay = self._backoff.delay(attempt, self._random, retry.retry_after_s)
                attempt += 1
                out_of_time = self._clock() + delay >= deadline
                if attempt >= self.config.max_attempts or out_of_time:
                    return [self._exhausted(retry, attempt, started)] * len(instances)
                self.stats.add("retries")
                logger.debug("retrying %s in %.2fs after: %s", self.url, delay, retry)
                self._sleep(delay)

    def _attempt(self, instances: list[Any], deadline: float) -> list[Any]:
        """One POST; returns the outcome or raises :class:`_Retry`."""
        status, payload, text, headers = self._post(instances, deadline)
        self.throttler.record(accepted=status not in OVERLOAD_STATUSES)
        message = server_message(payload, text)
        if status in RETRYABLE_STATUSES:
            raise _Retry(status, message, parse_retry_after(headers.get("Retry-After")))
        if status == 200:
            try:
                return self.protocol.parse(payload, len(instances))
            except ResponseError as exc:
                if exc.too_large:
                    return self._split(instances, deadline, str(exc))
                return self._reject(instances, status, str(exc), deadline)
        if status == 413 or (status == 400 and ResponseError(message).too_large):
            return self._split(instances, deadline, message)
        return self._reject(instances, status, message, deadline)

    def _post(self, instances: list[Any], deadline: float) -> tuple[int, Any, str, Any]:
        requests = require("requests", package="requests", extra="remote", purpose="remote")
        body = json.dumps(self.protocol.body(instances), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        authorization = self.auth.header()
        if authorization:
            headers["Authorization"] = authorization
        remaining = max(deadline - self._clock(), 0.001)
        timeout = (self.config.connect_timeout_s, min(self.config.timeout_s, remaining))
        self.stats.add("requests")
        try:
            response = self._session().post(self.url, data=body, headers=headers, timeout=timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Retry(None, f"{type(exc).__name__}: {exc}", None) from None
        text = response.text
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None
        return response.status_code, payload, text, response.headers

    # -- outcomes ----------------------------------------------------------------------------

    def _split(self, instances: list[Any], deadline: float, reason: str) -> list[Any]:
        if len(instances) == 1:
            return [
                RequestRejectedError(
                    f"endpoint {self.url} finds a single instance too large: {reason}; "
                    "shrink the example or raise the endpoint's payload limit",
                    413,
                    reason,
                )
            ]
        self.stats.add("splits")
        middle = len(instances) // 2
        return self._send(instances[:middle], deadline) + self._send(instances[middle:], deadline)

    def _reject(
        self, instances: list[Any], status: int, message: str, deadline: float
    ) -> list[Any]:
        # A 400 usually names one bad instance; bisecting keeps its request-mates alive.
        if status == 400 and len(instances) > 1 and self.config.split_on_400:
            self.stats.add("splits")
            middle = len(instances) // 2
            return self._send(instances[:middle], deadline) + self._send(
                instances[middle:], deadline
            )
        self.stats.add("rejected", len(instances))
        error = RequestRejectedError(
            f"endpoint {self.url} rejected the request with HTTP {status}: {message}",
            status,
            message,
        )
        return [error] * len(instances)

    def _exhausted(self, retry: _Retry, attempts: int, started: float) -> EndpointUnavailableError:
        self.stats.add("exhausted")
        answer = f"HTTP {retry.status}" if retry.status is not None else "no response"
        return EndpointUnavailableError(
            f"endpoint {self.url} still failing after {attempts} attempt(s) in "
            f"{self._clock() - started:.1f}s; last: {answer}: {retry}. Check the endpoint, or "
            "raise max_attempts / deadline_s",
            retry.status,
        )

    def _wait_for_throttle(self, deadline: float) -> None:
        while self.throttler.should_throttle():
            self.stats.add("throttled")
            delay = self.config.throttle_delay_s
            if self._clock() + delay >= deadline:
                raise _Retry(429, "client-side throttling: the endpoint keeps answering 429", None)
            self._sleep(delay)

    # -- resources ---------------------------------------------------------------------------

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            requests = require("requests", package="requests", extra="remote", purpose="remote")
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=1, pool_maxsize=self.config.concurrency, max_retries=0
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._local.session = session
        return session

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.config.concurrency, thread_name_prefix="infergraph-remote"
                )
            return self._pool

    def close(self) -> None:
        """Stop the sender threads (the client opens them again if used later)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __repr__(self) -> str:
        return f"RemoteClient(url={self.url!r}, auth={self.auth!r})"
