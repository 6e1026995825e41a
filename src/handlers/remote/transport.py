"""One HTTP POST of the ``remote`` handler: its answer read within a deadline, no secret shown.

The answer is streamed and read piece by piece, each read waiting at most ``timeout_s`` and never
past the deadline; and a timer shuts the request's socket down at the deadline, should the
endpoint trickle its status line and headers (which are read before any of that can apply). So
an endpoint cannot hold a request past the batch's deadline. Error texts from the HTTP library
are scrubbed of the ``Authorization`` values sent (``requests`` quotes a header value it refuses,
token and all).
"""

from __future__ import annotations

import base64
import collections
import contextlib
import functools
import json
import logging
import re
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...core.errors import InferenceError
from ...core.redaction import MIN_FORM, redact
from .._support import require
from .auth import Auth
from .retry import Clock

if TYPE_CHECKING:
    from .config import RemoteConfig

logger = logging.getLogger("infergraph")

_CHUNK = 64 * 1024


class AttemptFailed(Exception):
    """One attempt got no usable answer: worth another attempt unless ``out_of_time``.

    Attributes:
        status: The HTTP status, or ``None`` when no answer came.
        retry_after_s: The server's ``Retry-After``, in seconds.
        out_of_time: The deadline passed during the attempt: no retry can help.
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        retry_after_s: float | None = None,
        *,
        out_of_time: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s
        self.out_of_time = out_of_time


@dataclass(frozen=True)
class Answer:
    """An HTTP answer read in full."""

    status: int
    payload: Any
    text: str
    headers: Any


class Transport:
    """Posts JSON bodies to the endpoint: one ``requests.Session`` per thread.

    Args:
        config: The handler's config (timeouts, pool size).
        auth: Gives the ``Authorization`` header of each request.
        clock: Monotonic clock in seconds.
    """

    def __init__(self, config: RemoteConfig, auth: Auth, clock: Clock) -> None:
        self.config = config
        self.auth = auth
        self._clock = clock
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sent: collections.deque[str] = collections.deque(maxlen=4)

    def post(self, url: str, body: bytes, deadline: float) -> Answer:
        """POST ``body`` and read the answer before ``deadline`` (clock seconds).

        Raises:
            AttemptFailed: no answer (connection error, timeout, reset, deadline).
            InferenceError: the request could not be sent at all (a header the HTTP library
                refuses, say); its message holds no secret.
        """
        headers = {"Content-Type": "application/json"}
        authorization = self.auth.header()
        if authorization:
            headers["Authorization"] = authorization
            self._remember(authorization)
        left = deadline - self._clock()
        if left <= 0:
            raise AttemptFailed(None, "the deadline passed before the request", out_of_time=True)
        config = self.config
        timeout = (min(config.connect_timeout_s, left), min(config.timeout_s, left))
        cutoff = _Cutoff()
        timer = threading.Timer(left, cutoff.fire)
        timer.daemon = True
        timer.start()
        _current.cutoff = cutoff
        try:
            response, data = self._exchange(url, body, headers, timeout, deadline)
        except (AttemptFailed, InferenceError) as exc:
            if cutoff.fired and not (isinstance(exc, AttemptFailed) and exc.out_of_time):
                raise AttemptFailed(
                    None,
                    "no complete answer by the deadline (status line and headers)",
                    out_of_time=True,
                ) from None
            raise
        finally:
            _current.cutoff = None
            cutoff.finish()
            timer.cancel()
        if cutoff.fired:  # the socket was shut down: what was read may be cut short
            raise AttemptFailed(
                response.status_code,
                f"the answer (HTTP {response.status_code}) was still arriving at the deadline",
                out_of_time=True,
            )
        text = data.decode(response.encoding or "utf-8", "replace")
        try:
            payload = json.loads(text) if text else None
        except ValueError:
            payload = None
        return Answer(response.status_code, payload, text, response.headers)

    def _exchange(
        self, url: str, body: bytes, headers: dict[str, str], timeout: Any, deadline: float
    ) -> tuple[Any, bytes]:
        requests = require("requests", package="requests", extra="remote", purpose="remote")
        try:
            response = self._send(url, body, headers, timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise AttemptFailed(None, self.scrub(_no_answer(exc))) from None
        except (requests.RequestException, ValueError) as exc:
            hint = " (check the Authorization token)" if "Authorization" in headers else ""
            raise InferenceError(
                f"could not send a request to {url}{hint}: {type(exc).__name__}: "
                f"{self.scrub(str(exc))}"
            ) from None
        try:
            return response, self._read(response, deadline)
        finally:
            response.close()

    def _send(self, url: str, body: bytes, headers: dict[str, str], timeout: Any) -> Any:
        """POST once; again on a fresh connection if a kept-alive one turns out closed.

        A server may close a kept-alive connection without saying so (uvicorn does after an
        answer whose handler raised: KServe's and MLServer's error answers). A request sent on
        it is aborted before any answer; the pool drops that connection, and the request goes
        out once more, at once and not counted as an attempt.
        """
        requests = require("requests", package="requests", extra="remote", purpose="remote")
        urllib3 = require("urllib3", package="requests", extra="remote", purpose="remote")
        session = self._session()
        try:
            return session.post(url, data=body, headers=headers, timeout=timeout, stream=True)
        except requests.ConnectionError as exc:
            if not (exc.args and isinstance(exc.args[0], urllib3.exceptions.ProtocolError)):
                raise
            logger.debug("%s closed a kept-alive connection (%s); sending again", url, exc)
        return session.post(url, data=body, headers=headers, timeout=timeout, stream=True)

    def _read(self, response: Any, deadline: float) -> bytes:
        urllib3 = require("urllib3", package="requests", extra="remote", purpose="remote")
        raw = response.raw
        started = self._clock()
        chunks: list[bytes] = []
        received = 0
        while True:
            left = deadline - self._clock()
            if left > 0:
                _set_read_timeout(raw, min(self.config.timeout_s, left))
                try:
                    chunk = raw.read1(_CHUNK, decode_content=True)
                except (urllib3.exceptions.HTTPError, OSError) as exc:
                    if deadline - self._clock() > 0:
                        raise AttemptFailed(
                            None, f"reading the answer failed: {type(exc).__name__}: {exc}"
                        ) from None
                else:
                    if not chunk:
                        return b"".join(chunks)
                    chunks.append(chunk)
                    received += len(chunk)
                    continue
            raise AttemptFailed(
                response.status_code,
                f"the answer (HTTP {response.status_code}) was still arriving at the deadline: "
                f"{received} bytes in {self._clock() - started:.1f}s",
                out_of_time=True,
            )

    def scrub(self, text: str) -> str:
        """``text`` without the credentials of the ``Authorization`` values sent lately, in any
        form (escaped, URL- or base64-encoded; a Basic password decoded too)."""
        with self._lock:
            sent = list(self._sent)
        secrets = {secret for value in sent for secret in _credentials(value)}
        return redact(text, (secret for secret in secrets if len(secret.strip()) >= MIN_FORM))

    def _remember(self, authorization: str) -> None:
        with self._lock:
            if authorization not in self._sent:
                self._sent.append(authorization)

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            requests = require("requests", package="requests", extra="remote", purpose="remote")
            session = requests.Session()
            adapter = _adapter_class()(
                pool_connections=1, pool_maxsize=self.config.concurrency, max_retries=0
            )
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._local.session = session
        return session


# urllib3's wrappings of a cause: "HTTPConnection(host='h', port=1): cause" and
# "(<HTTPConnection object at 0x1>, 'cause')".
_WRAPPED = (
    re.compile(r"^\w+\(host='[^']*', port=\d+\): (.*)$", re.S),
    re.compile(r"^\(<[^>]*>, '(.*)'\)$", re.S),
)


def _no_answer(exc: Exception) -> str:
    """Why no answer came, without urllib3's wrapping: its "Max retries exceeded" (nothing is
    retried there) and its pool and connection reprs, e.g. ``ConnectionError: Failed to
    establish a new connection: [Errno 111] Connection refused``."""
    cause = exc.args[0] if exc.args else None
    cause = getattr(cause, "reason", None) or cause  # urllib3's MaxRetryError: the cause
    if cause is None:
        return f"{type(exc).__name__}: {exc}"
    text = str(cause)
    for wrapped in _WRAPPED:
        match = wrapped.match(text)
        text = match.group(1) if match else text
    return f"{type(exc).__name__}: {text}"


def _set_read_timeout(raw: Any, seconds: float) -> None:
    """Bound the next socket read (urllib3 keeps the timeout of the request's start)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


_current = threading.local()


class _Cutoff:
    """The socket of one request, shut down if the request is still running at its deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._done = False
        self.fired = False

    def attach(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._done:
                self._sock = sock

    def fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.fired = True
            if self._sock is not None:
                with contextlib.suppress(OSError):  # already closed
                    self._sock.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._sock = None


@functools.cache
def _adapter_class() -> Any:
    """A ``requests`` adapter whose connections hand their socket to the request's cutoff."""
    requests = require("requests", package="requests", extra="remote", purpose="remote")
    urllib3 = require("urllib3", package="requests", extra="remote", purpose="remote")

    class Tracked:
        sock: socket.socket | None

        def getresponse(self) -> Any:
            cutoff = getattr(_current, "cutoff", None)
            if cutoff is not None and self.sock is not None:
                cutoff.attach(self.sock)
            return super().getresponse()  # type: ignore[misc]

    class HTTPConnection(Tracked, urllib3.connection.HTTPConnection):  # type: ignore[misc,name-defined]
        pass

    class HTTPSConnection(Tracked, urllib3.connection.HTTPSConnection):  # type: ignore[misc,name-defined]
        pass

    class HTTPPool(urllib3.HTTPConnectionPool):  # type: ignore[misc,name-defined]
        ConnectionCls = HTTPConnection

    class HTTPSPool(urllib3.HTTPSConnectionPool):  # type: ignore[misc,name-defined]
        ConnectionCls = HTTPSConnection

    class Adapter(requests.adapters.HTTPAdapter):  # type: ignore[misc,name-defined]
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": HTTPPool, "https": HTTPSPool}

    return Adapter


def _credentials(authorization: str) -> tuple[str, ...]:
    """The secrets of one ``Authorization`` value: its credentials (the scheme is no secret), a
    Basic header's decoded ``user:password`` and password too."""
    scheme, _, credentials = authorization.partition(" ")
    if not credentials.strip():
        return (authorization,)
    if scheme.lower() != "basic":
        return (credentials,)
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return (credentials,)
    return (credentials, decoded, decoded.partition(":")[2])
