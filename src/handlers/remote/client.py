"""The loaded "model" of the ``remote`` handler: a pooled HTTP client that sends wire requests.

One :class:`RemoteClient` per worker process, shared by its threads. It packs a batch into
requests within the instance and byte limits (v2: only examples of one shape per request),
sends them from a small thread pool, retries transient faults, splits requests the endpoint
finds too large, bisects a request that keeps crashing the model (a poison pill), fails at once
while the endpoint's circuit breaker is open or past the run's deadline, and returns exactly one
prediction or one exception per example, in the batch's order.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ...core.errors import (
    CircuitOpenError,
    EndpointUnavailableError,
    InferenceError,
    InputError,
    RequestRejectedError,
    RunDeadlineError,
)
from .auth import Auth
from .breaker import breaker_for
from .outcomes import (
    Exhausted,
    RemoteStats,
    Suspect,
    poison,
    rejected,
    run_deadline_passed,
    unavailable,
)
from .protocols import Protocol, ResponseError, pack, server_message
from .retry import (
    OVERLOAD_STATUSES,
    RETRYABLE_STATUSES,
    AdaptiveThrottler,
    Backoff,
    Clock,
    Random,
    parse_retry_after,
)
from .transport import AttemptFailed, Transport

if TYPE_CHECKING:
    from .config import RemoteConfig

logger = logging.getLogger("infergraph")

Sleep = Callable[[float], None]

#: Attempts of each half when a request that keeps failing with HTTP 500 is bisected.
BISECT_ATTEMPTS = 2


class RemoteClient:
    """Sends batches to one endpoint. Built by ``RemoteHandler.load``; opens nothing until used.

    Args:
        config: The handler's config.
        protocol: The configured wire protocol.
        auth: Gives the ``Authorization`` header of each request.
        clock: Monotonic clock in seconds (deadlines, throttling window, circuit breaker).
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
        self.breaker = breaker_for(
            self.url,
            config.breaker_failures,
            config.breaker_cooldown_s,
            clock=clock,
            enabled=config.circuit_breaker,
        )
        self.transport = Transport(config, auth, clock)
        self._backoff = Backoff(config.backoff_initial_s, config.backoff_max_s)
        self._clock, self._sleep, self._random = clock, sleep, random
        self._lock = threading.Lock()
        self._run_started: float | None = None
        self._pool: ThreadPoolExecutor | None = None

    def metrics(self) -> dict[str, int | str]:
        """What the client did, and its endpoint's circuit breaker (shared in the process).

        Counters: ``requests``, ``retries``, ``throttled``, ``splits``, ``rejected``,
        ``exhausted``, ``poison_splits``, ``poison_isolated``, ``deadline_cut``,
        ``run_deadline_refused``; of the breaker: ``breaker_opened``, ``breaker_half_opened``,
        ``breaker_closed``, ``breaker_rejected``, and ``breaker_state`` (``closed``, ``open``
        or ``half_open``). The remote handler's docs say what each counts.
        """
        breaker = self.breaker
        return {**self.stats.snapshot(), **breaker.counts(), "breaker_state": breaker.state}

    # -- batches -----------------------------------------------------------------------------

    def predict(self, examples: Sequence[Any]) -> list[Any]:
        """One prediction, or one exception, per example, in order."""
        outputs: list[Any] = [None] * len(examples)
        positions: list[int] = []
        instances: list[Any] = []
        sizes: list[int] = []
        groups: list[Hashable] = []
        for i, example in enumerate(examples):
            try:
                instance = self.protocol.encode(example)
                sizes.append(self.protocol.size(instance))
                groups.append(self.protocol.group(instance))
            except InferenceError as exc:
                outputs[i] = exc
                continue
            except Exception as exc:
                outputs[i] = InputError(
                    f"cannot encode the example for the {self.config.protocol!r} protocol: "
                    f"{type(exc).__name__}: {exc}"
                )
                continue
            positions.append(i)
            instances.append(instance)
        if not instances:
            return outputs
        started = self._clock()
        deadline = self._batch_deadline()
        requests = pack(
            sizes, groups, self.config.max_instances_per_request, self.config.max_request_bytes
        )
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
                judged = self._judge(output, started) if isinstance(output, Suspect) else output
                outputs[positions[j]] = judged
        return outputs

    def _batch_deadline(self) -> float:
        now = self._clock()
        with self._lock:
            if self._run_started is None:
                self._run_started = now
            run_started = self._run_started
        deadline = now + self.config.deadline_s
        if self.config.run_deadline_s is not None:
            deadline = min(deadline, run_started + self.config.run_deadline_s)
        return deadline

    # -- one request -------------------------------------------------------------------------

    def _send_safely(self, instances: list[Any], deadline: float) -> list[Any]:
        try:
            return self._send(instances, deadline)
        except Exception as exc:  # a failed token refresh, say: fail these instances, not others
            return [exc] * len(instances)

    def _send(self, instances: list[Any], deadline: float) -> list[Any]:
        """Send ``instances`` with retries; one prediction or exception per instance."""
        outcome = self._attempts(instances, deadline, self.config.max_attempts)
        if not isinstance(outcome, Exhausted):
            return outcome
        if self._poison_suspected(outcome) and len(instances) > 1:
            return self._isolate(instances, deadline, outcome.started)
        if self._poison_suspected(outcome):
            return [self._suspect(outcome, outcome.started)]
        return [self._unavailable(outcome)] * len(instances)

    def _attempts(
        self, instances: list[Any], deadline: float, attempts: int, since: float | None = None
    ) -> list[Any] | Exhausted:
        """Up to ``attempts`` attempts: the outcome, or how the request ran out.

        ``since``: when the request this one is part of started (a bisected request's halves).
        """
        started = self._clock()
        attempt = 0
        while True:
            refusal = self._refusal()
            if refusal is not None:
                return [refusal] * len(instances)
            probe, reason = self.breaker.admit()
            if reason is not None:
                return [CircuitOpenError(reason)] * len(instances)
            try:
                return self._attempt(instances, deadline, probe)
            except AttemptFailed as failed:
                delay = self._backoff.delay(attempt, self._random, failed.retry_after_s)
                attempt += 1
                out_of_time = failed.out_of_time or self._clock() + delay >= deadline
                if attempt >= attempts or out_of_time:
                    self.stats.add("exhausted")
                    if failed.out_of_time and failed.status is not None:
                        self.stats.add("deadline_cut")
                    origin = started if since is None else since
                    # A 500 may be a poison pill: an answer just before the request counts too.
                    self.breaker.exhausted(
                        self._lookback(origin) if failed.status == 500 else origin
                    )
                    return Exhausted(failed, attempt, started, out_of_time)
                self.stats.add("retries")
                logger.debug("retrying %s in %.2fs after: %s", self.url, delay, failed)
                self._sleep(delay)

    def _attempt(self, instances: list[Any], deadline: float, probe: bool) -> list[Any]:
        """One POST; returns the outcome or raises :class:`AttemptFailed`."""
        try:
            self._wait_for_throttle(deadline)
            body = json.dumps(
                self.protocol.body(instances), separators=(",", ":"), allow_nan=False
            ).encode()
        except BaseException:
            self.breaker.abandon(probe)
            raise
        self.stats.add("requests")
        try:
            answer = self.transport.post(self.url, body, deadline)
        except AttemptFailed:
            self.breaker.failed(probe)
            raise
        except BaseException:
            self.breaker.abandon(probe)
            raise
        status = answer.status
        self.throttler.record(accepted=status not in OVERLOAD_STATUSES)
        message = server_message(answer.payload, answer.text, self.transport.scrub)
        if status in RETRYABLE_STATUSES:
            self.breaker.failed(probe)
            retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            raise AttemptFailed(status, message, retry_after)
        self.breaker.answered(probe)
        if status == 200:
            try:
                return self.protocol.parse(answer.payload, len(instances))
            except ResponseError as exc:
                if exc.too_large:
                    return self._split(instances, deadline, str(exc))
                return self._reject(instances, status, self.transport.scrub(str(exc)), deadline)
        if status == 413 or (status == 400 and ResponseError(message).too_large):
            return self._split(instances, deadline, message)
        return self._reject(instances, status, message, deadline)

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
        return [rejected(self.url, status, message, self.config)] * len(instances)

    def _poison_suspected(self, outcome: Exhausted) -> bool:
        """Whether a request that ran out may hold an instance that crashes the model.

        Only an HTTP 500 (a model error; 429, 502, 503 and 504 are overload or outage) while
        the breaker is closed: an open breaker means the endpoint itself is down.
        """
        last = outcome.last
        return (
            self.config.isolate_poison
            and last.status == 500
            and not last.out_of_time
            and self.breaker.is_closed()
        )

    def _isolate(self, instances: list[Any], deadline: float, since: float) -> list[Any]:
        """Bisect a request that kept getting HTTP 500 so that only its poison pills fail.

        Both halves are tried (``BISECT_ATTEMPTS`` attempts each) before either is judged: a
        half that still fails is bisected further only if the endpoint answered some request
        since the first one started (so an outage stops here, after one level). A lone
        instance that still fails is judged when the batch is done (:meth:`_judge`).
        """
        self.stats.add("poison_splits")
        middle = len(instances) // 2
        halves = [instances[:middle], instances[middle:]]
        attempts = min(BISECT_ATTEMPTS, self.config.max_attempts)
        outcomes = [self._attempts(half, deadline, attempts, since) for half in halves]
        results: list[Any] = []
        for half, outcome in zip(halves, outcomes, strict=True):
            if not isinstance(outcome, Exhausted):
                results += outcome
            elif self._poison_suspected(outcome) and len(half) == 1:
                results.append(self._suspect(outcome, since))
            elif self._poison_suspected(outcome) and self.breaker.answered_since(since):
                results += self._isolate(half, deadline, since)
            else:
                results += [self._unavailable(outcome)] * len(half)
        return results

    def _refusal(self) -> RunDeadlineError | None:
        limit, started = self.config.run_deadline_s, self._run_started
        if limit is None or started is None or self._clock() - started < limit:
            return None
        self.stats.add("run_deadline_refused")
        return run_deadline_passed(self.url, limit, self._clock() - started)

    def _unavailable(self, outcome: Exhausted) -> EndpointUnavailableError:
        return unavailable(self.url, outcome, self.config, self._clock() - outcome.started)

    def _suspect(self, outcome: Exhausted, since: float) -> Suspect:
        return Suspect(outcome, self._lookback(since), self._unavailable(outcome))

    def _judge(self, suspect: Suspect, batch_started: float) -> InferenceError:
        """A poison pill if the endpoint answered a request of the batch, or just before."""
        if not self.breaker.answered_since(min(suspect.evidence_since, batch_started)):
            return suspect.unavailable
        self.stats.add("poison_isolated")
        return poison(self.url, suspect.outcome)

    def _lookback(self, since: float) -> float:
        """As long before ``since`` as the request that started then has been failing."""
        return since - (self._clock() - since)

    def _wait_for_throttle(self, deadline: float) -> None:
        while self.throttler.should_throttle():
            self.stats.add("throttled")
            delay = self.config.throttle_delay_s
            if self._clock() + delay >= deadline:
                raise AttemptFailed(
                    429, "client-side throttling: the endpoint keeps answering 429", None
                )
            self._sleep(delay)

    # -- resources ---------------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.config.concurrency, thread_name_prefix="infergraph-remote"
                )
            return self._pool

    def close(self) -> None:
        """Stop the sender threads (the client opens them again if used later)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __repr__(self) -> str:
        return f"RemoteClient(url={self.url!r}, auth={self.auth!r})"
