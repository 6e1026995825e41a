"""A time limit on model calls (``run_timeout_s``), so a hanging model fails instead of hanging.

Python cannot stop a thread. A call with a time limit runs on its own daemon thread; when the
limit passes, the caller stops waiting and the batch fails with :class:`ModelTimeoutError`,
while the call carries on in the background until the model returns (its result is then
dropped). Later batches start new threads, so one hung call does not block them. To keep a
dead model from piling up threads, at most :data:`MAX_STUCK_CALLS` calls per model may be
left running past their limit: while that many are, further batches of that model fail at once
without calling it, until one of the stuck calls returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from .errors import ModelTimeoutError

MAX_STUCK_CALLS = 4
"""How many timed-out calls of one model may still be running before new calls are refused."""


class TimedCalls:
    """Runs one model's calls on daemon threads and stops waiting after ``timeout_s``.

    Shared by every runner of the same model in the process (see :func:`timed_calls`), so the
    count of stuck calls is per model, not per run.
    """

    def __init__(self, timeout_s: float, label: str) -> None:
        self.timeout_s = timeout_s
        self.label = label
        self._lock = threading.Lock()
        self.stuck = 0

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, or :class:`ModelTimeoutError` once ``timeout_s`` has passed."""
        with self._lock:
            if self.stuck >= MAX_STUCK_CALLS:
                raise ModelTimeoutError(
                    f"{self.stuck} earlier calls of {self.label} are still running past "
                    f"run_timeout_s={self.timeout_s:g}; not starting another until one returns. "
                    "Check the model (or its device), or raise run_timeout_s"
                )
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def target() -> None:
            try:
                outcome["value"] = fn(*args)
            except BaseException as exc:
                outcome["error"] = exc
            finally:
                with self._lock:
                    if outcome.get("abandoned"):
                        self.stuck -= 1
                    done.set()

        threading.Thread(target=target, name=f"infergraph-run:{self.label}", daemon=True).start()
        if not done.wait(self.timeout_s):
            with self._lock:
                if not done.is_set():
                    outcome["abandoned"] = True
                    self.stuck += 1
                    raise ModelTimeoutError(
                        f"the call of {self.label} ran past run_timeout_s={self.timeout_s:g} "
                        "seconds; it was left running in the background and its batch failed. "
                        "Check the model (or its device), or raise run_timeout_s"
                    )
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]


_registry_lock = threading.Lock()
_registry: dict[tuple[str, float], TimedCalls] = {}


def timed_calls(key: str, timeout_s: float, label: str) -> TimedCalls:
    """The :class:`TimedCalls` of the model ``key`` (one per model and limit in the process)."""
    with _registry_lock:
        calls = _registry.get((key, timeout_s))
        if calls is None:
            calls = _registry[(key, timeout_s)] = TimedCalls(timeout_s, label)
        return calls
