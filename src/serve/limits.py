"""Request limits: body size (413), JSON nesting, deadlines."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from starlette.requests import Request

from ..core.errors import RequestError

_OPEN = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSE = np.frombuffer(b"]}", dtype=np.uint8)


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int) -> RequestError:
    return RequestError(
        f"the request body has {size} bytes or more, more than the server's limit of {limit} "
        "(serving.max_body_bytes)",
        413,
    )


def parse_json(body: bytes, max_depth: int) -> Any:
    """A JSON body, refused with 400 when it is not JSON or nests deeper than ``max_depth``."""
    depth = _bracket_depth(body)
    if depth > max_depth and _depth(_loads(body)) > max_depth:
        raise RequestError(
            f"the JSON body nests deeper than the server's limit of {max_depth} "
            "(serving.max_json_depth)"
        )
    return _loads(body)


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise RequestError("the JSON body nests too deep to read") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"the body is not JSON: {exc}") from None


def _bracket_depth(body: bytes) -> int:
    """An upper bound of the nesting (brackets inside strings count too), without parsing."""
    opened = body.count(b"[") + body.count(b"{")
    if opened <= 64:
        return opened  # a bound already: no body this small nests deeper than it opens
    raw = np.frombuffer(body, dtype=np.uint8)
    steps = np.isin(raw, _OPEN).astype(np.int32) - np.isin(raw, _CLOSE).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value if isinstance(v, list | dict)), default=0)
    return 0


def timeout_s(header: str | None, parameter: Any, default: float) -> float:
    """A request's deadline in seconds: the ``Inference-Timeout-Ms`` header, the v2
    ``timeout`` parameter (microseconds, as Triton's clients send it), else the default."""
    try:
        if header is not None:
            value = float(header) / 1e3
        elif parameter is not None:
            value = float(parameter) / 1e6
        else:
            return default
    except (TypeError, ValueError):
        raise RequestError(f"bad timeout {header or parameter!r}: a number is needed") from None
    if not value > 0:
        raise RequestError(f"bad timeout {header or parameter!r}: it must be above 0")
    return value
