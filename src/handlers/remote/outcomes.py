"""How a request of the ``remote`` handler ended, and the errors its examples fail with."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...core.errors import EndpointUnavailableError, RequestRejectedError, RunDeadlineError
from .transport import AttemptFailed

if TYPE_CHECKING:
    from .config import RemoteConfig


@dataclass(frozen=True)
class Exhausted:
    """A request ran out of attempts or time without a usable answer.

    Attributes:
        last: The last attempt's failure.
        attempts: Attempts made.
        started: When the first attempt started (clock seconds).
        out_of_time: Whether the deadline, not ``max_attempts``, ended it.
    """

    last: AttemptFailed
    attempts: int
    started: float
    out_of_time: bool


@dataclass(frozen=True)
class Suspect:
    """A lone instance that kept getting HTTP 500 while the breaker was closed.

    It is judged when its batch is done, so that the order of the batch's requests does not
    matter: a poison pill if the endpoint answered some request of the batch or since
    ``evidence_since`` (as long before the request as it took), else ``unavailable``.
    """

    outcome: Exhausted
    evidence_since: float
    unavailable: EndpointUnavailableError


class RemoteStats:
    """Thread-safe counters of what a client did (see ``RemoteClient.metrics``)."""

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


def unavailable(
    url: str, outcome: Exhausted, config: RemoteConfig, elapsed: float
) -> EndpointUnavailableError:
    """The error of each example of a request that got no usable answer."""
    last = outcome.last
    answer = f"HTTP {last.status}" if last.status is not None else "no response"
    if outcome.out_of_time:
        limits = f"deadline_s={config.deadline_s:g}"
        if config.run_deadline_s is not None:
            limits += f", run_deadline_s={config.run_deadline_s:g}"
        advice = f"The batch's deadline passed ({limits}): check the endpoint, or raise it"
    else:
        advice = "Check the endpoint, or raise max_attempts / deadline_s"
    return EndpointUnavailableError(
        f"endpoint {url} still failing after {outcome.attempts} attempt(s) in {elapsed:.1f}s; "
        f"last: {answer}: {last}. {advice}",
        last.status,
    )


def rejected(url: str, status: int, message: str, config: RemoteConfig) -> RequestRejectedError:
    """The error of each example of a request the endpoint refused (a 4xx, an error body)."""
    advice = _advice(status, config)
    return RequestRejectedError(
        f"endpoint {url} rejected the request with HTTP {status}: "
        + (f"{message.rstrip('. ')}; {advice}" if advice else message),
        status,
        message,
    )


def _advice(status: int, config: RemoteConfig) -> str:
    """What to check for a status that says the config, not the example, is wrong."""
    if status == 404:
        if config.protocol == "vertex":
            target = f"endpoint_id={config.endpoint_id!r}, project and location"
        else:
            target = f"model={config.model!r}"
            if config.version:
                target += f", version={config.version!r}"
        return (
            f"the server has no model at this URL: check {target} against the models it "
            "serves, and the endpoint"
        )
    if status in (401, 403):
        return "check the credentials: auth, and token if set"
    return ""


def poison(url: str, outcome: Exhausted) -> RequestRejectedError:
    """The error of an instance the endpoint answers HTTP 500 alone, while it answers others."""
    last = outcome.last
    return RequestRejectedError(
        f"endpoint {url} answered HTTP 500 to this instance alone ({outcome.attempts} "
        "attempt(s)) while it answered other requests: the instance probably makes the model "
        f"fail; check its shape and values. Last answer: {last}",
        500,
        str(last),
    )


def run_deadline_passed(url: str, limit: float, elapsed: float) -> RunDeadlineError:
    """The error of each example a client no longer sends, past ``run_deadline_s``."""
    return RunDeadlineError(
        f"the run deadline passed: run_deadline_s={limit:g} from the first request to {url} in "
        f"this process, {elapsed:.1f}s ago; nothing more is sent. Check the endpoint, or raise "
        "run_deadline_s"
    )
