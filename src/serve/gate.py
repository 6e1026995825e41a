"""The ASGI middleware in front of every route: request ids, the bearer token, the access log.

Every response carries ``X-Request-Id`` (the client's, or a new one), and every request is one
line of the ``infergraph.serve.access`` log: client, method, path, status, milliseconds, request
id. The token is compared in constant time and never logged; the health checks need none (so
that a load balancer's or Kubernetes' probes work without it).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ACCESS = logging.getLogger("infergraph.serve.access")
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})


class Gate:
    """Request ids, the bearer token check and the access log, as one ASGI middleware."""

    def __init__(self, app: ASGIApp, token: str | None = None) -> None:
        self.app = app
        self._token = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:128] or uuid.uuid4().hex
        status = [0]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        if self._token and scope["path"] not in OPEN_PATHS and not self._allowed(headers):
            await _unauthorized(send_with_id)
        else:
            await self.app(scope, receive, send_with_id)
        _log(scope, status[0], time.perf_counter() - started, request_id)

    def _allowed(self, headers: dict[bytes, bytes]) -> bool:
        assert self._token is not None
        return hmac.compare_digest(headers.get(b"authorization", b""), self._token)


async def _unauthorized(send: Send) -> None:
    body = json.dumps({"error": "a valid bearer token is needed (Authorization: Bearer ...)"})
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


def _log(scope: Scope, status: int, seconds: float, request_id: str) -> None:
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    client: Any = scope.get("client") or ("-", 0)
    ACCESS.info(
        '%s "%s %s" %d %.1fms id=%s',
        client[0],
        scope["method"],
        scope["path"],
        status,
        seconds * 1e3,
        request_id,
    )
