"""Authorization headers for the ``remote`` handler: Google credentials, a static token, none."""

from __future__ import annotations

import ipaddress
import threading
from typing import Any, Protocol

from .._support import require

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class Credentials(Protocol):
    """What the handler needs of a ``google.auth.credentials.Credentials`` object."""

    @property
    def token(self) -> str | None:
        """The current access token."""

    @property
    def valid(self) -> bool:
        """Whether the token is present and not expired."""

    def refresh(self, request: Any) -> None:
        """Fetch a new token through ``request`` (a ``google.auth.transport.Request``)."""


class Auth(Protocol):
    """Gives the ``Authorization`` header value of the next request, or ``None``."""

    def header(self) -> str | None:
        """The header value (``Bearer ...``), or ``None`` to send none."""


class NoAuth:
    """No ``Authorization`` header (loopback servers, endpoints behind their own auth)."""

    def header(self) -> str | None:
        """Always ``None``."""
        return None

    def __repr__(self) -> str:
        return "NoAuth()"


class StaticToken:
    """A fixed bearer token. The token never appears in this object's repr."""

    def __init__(self, token: str) -> None:
        self._token = token

    def header(self) -> str | None:
        """``Bearer <token>``."""
        return f"Bearer {self._token}"

    def __repr__(self) -> str:
        return "StaticToken('**********')"


class GoogleAuth:
    """Google credentials with the cloud-platform scope, refreshed when they expire.

    The credentials are resolved on first use (application default credentials unless some were
    given), never at construction, and refreshed under a lock shared by the worker's threads.

    Args:
        credentials: Credentials to use instead of the application default credentials.
    """

    def __init__(self, credentials: Credentials | None = None) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()
        self._request: Any = None

    def header(self) -> str | None:
        """``Bearer <access token>``, refreshing the token first if it is missing or expired."""
        with self._lock:
            credentials = self._resolve()
            if not credentials.valid:
                credentials.refresh(self._transport())
            return f"Bearer {credentials.token}"

    def _resolve(self) -> Credentials:
        if self._credentials is None:
            google_auth = require(
                "google.auth", package="google-auth", extra="remote", purpose="the remote handler"
            )
            credentials, _ = google_auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
            self._credentials = credentials
        assert self._credentials is not None
        return self._credentials

    def _transport(self) -> Any:
        if self._request is None:
            transport = require(
                "google.auth.transport.requests",
                package="google-auth",
                extra="remote",
                purpose="the remote handler",
            )
            self._request = transport.Request()
        return self._request

    def __repr__(self) -> str:
        return f"GoogleAuth(credentials={type(self._credentials).__name__})"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("example.com")
        (True, True, False)
    """
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
