"""The one exception hierarchy of infergraph.

::

    InfergraphError
    ├── ConfigError                 a handler config (or option) is invalid; names the field
    │   └── GraphError              a graph is invalid (cycle, dangling node, ...); names the node
    │       └── SpecError           a graph spec file is invalid; names the file, line and field
    ├── HandlerNotFoundError        no handler registered under a name; lists the registered ones
    ├── PluginError                 a plugin failed to import, register or declare its hooks
    │   └── DuplicateHandlerError   two plugins register the same handler name; names both
    ├── MissingDependencyError      an optional library is missing; names the pip extra to install
    ├── ModelLoadError              a model could not be loaded; names the path and the cause
    ├── DeviceError                 the requested device is not available; names those found
    ├── RunnerError                 a Beam runner could not start; says what it lacks (a jar, Java)
    ├── RequestError                a served request is refused (bad tensor, too big, late, full)
    ├── InferenceError              one batch or element failed in a stage (becomes a Failure)
    │   ├── InputError              an input element has the wrong shape (keyed vs. unkeyed, ...)
    │   ├── PostprocessError        postprocess returned no sequence, or the wrong number of items
    │   ├── BatchError              a whole batch failed, no element at fault (not bisected)
    │   │   ├── EndpointUnavailableError  a remote endpoint kept failing past the retries/deadline
    │   │   │   └── CircuitOpenError  failed at once: the endpoint's circuit breaker is open
    │   │   ├── RunDeadlineError  failed at once: the run's time budget is spent
    │   │   └── ModelTimeoutError     a model call ran past the handler's run_timeout_s
    │   └── RequestRejectedError    a remote endpoint rejected a request (4xx, error body)
    └── InferenceFailedError        raised by a Beam pipeline whose failures were not routed

Per-element failures are data (:class:`infergraph.Failure`), not exceptions: the execution paths
catch :class:`Exception` raised by a handler stage and turn it into one failure record per element.

Every class is constructible from its message alone, ``type(exc)(str(exc))``, because Apache Beam
rebuilds a worker's exception that way (adding ``[while running '<step>']``); any extra attribute
is a keyword-only argument with a default.
"""

from __future__ import annotations


class InfergraphError(Exception):
    """Base class of every error raised by infergraph."""


class ConfigError(InfergraphError, ValueError):
    """A handler config or option is invalid."""


class GraphError(ConfigError):
    """A graph is invalid: a cycle, a node with no input, an unknown name, a bad condition.

    Attributes:
        node: The node the problem is about, when there is one.
    """

    def __init__(self, message: str, *, node: str | None = None) -> None:
        super().__init__(message)
        self.node = node


class SpecError(GraphError):
    """A graph spec file is invalid; the message starts with ``file:line:``."""


class HandlerNotFoundError(InfergraphError, LookupError):
    """No handler is registered under the requested name."""


class PluginError(InfergraphError):
    """A plugin failed to import, to register its handlers, or declares an unknown hook.

    Attributes:
        plugin: The plugin (entry-point) name, when known; the message then starts with it.
    """

    def __init__(self, message: str, *, plugin: str | None = None) -> None:
        super().__init__(f"plugin {plugin!r}: {message}" if plugin is not None else message)
        self.plugin = plugin


class DuplicateHandlerError(PluginError):
    """Two plugins register a handler under the same name."""


class MissingDependencyError(InfergraphError, ImportError):
    """An optional dependency is not installed; the message says what to install.

    Attributes:
        package: The missing distribution, when known.
        extra: The infergraph extra that installs it, when there is one.
    """

    def __init__(
        self, message: str, *, package: str | None = None, extra: str | None = None
    ) -> None:
        super().__init__(message)
        self.package = package
        self.extra = extra

    @classmethod
    def for_extra(cls, package: str, extra: str, purpose: str) -> MissingDependencyError:
        """The error for ``package``, installed by ``pip install 'infergraph[extra]'``."""
        return cls(
            f"{purpose} needs the {package!r} package, which is not installed. "
            f"Install it with: pip install 'infergraph[{extra}]'",
            package=package,
            extra=extra,
        )


class ModelLoadError(InfergraphError):
    """A model could not be loaded."""


class DeviceError(InfergraphError):
    """The requested device is not available."""


class RunnerError(InfergraphError):
    """A Beam runner could not start: its job server could not be fetched or reached, or a
    program it needs (Java, Docker) is missing."""


class RequestError(InfergraphError):
    """A request to ``infergraph serve`` is refused: a malformed or too large body, a tensor
    that does not fit, a full queue, a deadline spent.

    Attributes:
        status: The HTTP status the server answers with (400 unless set).
        headers: Extra response headers (``Retry-After`` for a full queue).
    """

    def __init__(
        self, message: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        # The attributes default so that the error can be rebuilt from its message alone.
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


class InferenceError(InfergraphError):
    """A handler stage failed on a batch or on one element."""


class InputError(InferenceError):
    """An input element does not have the expected form."""


class PostprocessError(InferenceError):
    """``postprocess`` did not return exactly one prediction per example."""


class InferenceFailedError(InfergraphError):
    """An element failed in a pipeline whose failures were not routed to their own output."""


class BatchError(InferenceError):
    """A whole batch failed for a reason no single element causes (an endpoint down, say).

    The execution paths do not bisect such a batch to find a culprit: every element in it
    becomes a failure record at once.
    """


class EndpointUnavailableError(BatchError):
    """A remote endpoint kept failing (5xx, 429, timeouts, resets) past the retries or deadline.

    Attributes:
        status: The last HTTP status, or ``None`` when the last attempt got no response.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        # ``status`` may be passed by position or keyword; it defaults so Beam can rebuild this.
        super().__init__(message)
        self.status = status


class CircuitOpenError(EndpointUnavailableError):
    """A remote endpoint's circuit breaker is open: requests fail at once until it probes again."""


class RunDeadlineError(BatchError):
    """The run's time budget (``run_deadline_s``) is spent: nothing more is sent."""


class ModelTimeoutError(BatchError):
    """A model call ran longer than the handler's ``run_timeout_s``.

    Every element of the call becomes a failure record (a hanging model is not bisected); the
    call itself keeps running on its own thread until the model returns (Python cannot stop a
    thread), and its result is discarded.
    """


class RequestRejectedError(InferenceError):
    """A remote endpoint rejected a request: a 4xx status or an error in a 200 body.

    Attributes:
        status: The HTTP status of the answer (``None`` once rebuilt from the message alone).
        server_message: The endpoint's own error message.
    """

    def __init__(self, message: str, status: int | None = None, server_message: str = "") -> None:
        # The attributes default so that Beam can rebuild the error from its message alone.
        super().__init__(message)
        self.status = status
        self.server_message = server_message
