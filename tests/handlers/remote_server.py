"""A scriptable prediction server on 127.0.0.1 that speaks the remote handler's four protocols.

The "model" doubles numbers (element-wise in lists), upper-cases strings, and answers
``{"length": n}`` for ``{"b64": ...}`` bytes. The instance ``"bad"`` gets a 400 naming its index;
a request holding the instance ``"crash"`` gets a bare 500, as MLServer answers an input that
crashes the model (a poison pill). Faults are scripted: each :class:`Action` queued with
:meth:`PredictionServer.script` answers one request (in arrival order) instead of the model.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

ROUTES = {
    "ai_platform": re.compile(r"^/v1/projects/[^/]+/models/[^/:]+(/versions/[^/:]+)?:predict$"),
    "vertex": re.compile(r"^/v1/projects/[^/]+/locations/[^/]+/endpoints/[^/:]+:predict$"),
    "tf_serving": re.compile(r"^/v1/models/[^/:]+(/versions/[^/:]+)?:predict$"),
    "v2": re.compile(r"^/v2/models/[^/]+(/versions/[^/]+)?/infer$"),
}


@dataclass(frozen=True)
class Action:
    """How to answer one request instead of the model.

    kind: ``status`` (answer ``status`` with ``body`` and ``headers``), ``slow`` (wait
    ``delay_s``, then answer normally), ``reset`` (drop the connection with a TCP reset),
    ``error_body`` (200 with ``{"error": message}``), ``trickle`` (answer normally, padded to
    ``size`` bytes, one byte every ``delay_s``), ``trickle_headers`` (the same, status line and
    headers included), ``short`` (200 with one prediction too few),
    ``echo_auth`` (answer ``status`` with an error that quotes the request's ``Authorization``
    header, as some proxies do), ``text`` (answer ``status`` with ``message`` as a plain-text
    body, as MLServer answers a model error: a Python traceback).
    """

    kind: str
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""
    delay_s: float = 0.0
    size: int = 0


def text(code: int, body: str) -> Action:
    """Answer with ``code`` and ``body`` as plain text."""
    return Action("text", code, message=body)


def status(code: int, message: str = "", **headers: str) -> Action:
    """Answer with ``code``, an ``{"error": message}`` body and ``headers``."""
    return Action("status", code, {k.replace("_", "-"): v for k, v in headers.items()}, message)


@dataclass
class Seen:
    """One request as the server saw it (never the token itself)."""

    protocol: str | None
    path: str
    body: dict[str, Any]
    nbytes: int
    authorized: bool
    answer: int | str


class PredictionServer:
    """A real HTTP/1.1 server on an ephemeral loopback port.

    Args:
        token: When set, requests without ``Authorization: Bearer <token>`` get a 401.
        max_body_bytes: Bodies above this many bytes get a 413 "payload too large".
        latency_s: Added to every answer (benchmarks).
        close_after_error_s: When set, the connection of an answer of HTTP 500 or more is
            closed this long after the answer, without a ``Connection: close`` header (as
            uvicorn does after an error answer of KServe or MLServer): a request the client
            sends on it meanwhile is aborted.
    """

    def __init__(
        self, *, token: str | None = None, max_body_bytes: int | None = None,
        latency_s: float = 0.0, close_after_error_s: float | None = None,
    ) -> None:
        self.token = token
        self.close_after_error_s = close_after_error_s
        self.max_body_bytes = max_body_bytes
        self.latency_s = latency_s
        #: v2: whether output tensors carry a ``name`` (the protocol makes it optional).
        self.named_outputs = True
        self.seen: list[Seen] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._actions: list[Action] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def script(self, *actions: Action) -> None:
        """Queue actions; each answers the next request instead of the model."""
        with self._lock:
            self._actions.extend(actions)

    def answers(self) -> list[int | str]:
        """What each request got, in arrival order."""
        with self._lock:
            return [seen.answer for seen in self.seen]

    def __enter__(self) -> PredictionServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- called by the request handler -------------------------------------------------------

    def _next_action(self) -> Action | None:
        with self._lock:
            return self._actions.pop(0) if self._actions else None

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _enter(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self.max_in_flight = max(self.max_in_flight, self._in_flight)


def _make_handler(server: PredictionServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle's algorithm and
            # delayed ACKs add ~40 ms to every answer on a kept-alive connection.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            server._enter(1)
            try:
                self._handle()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                server._enter(-1)

        def _handle(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            protocol = next((n for n, r in ROUTES.items() if r.match(self.path)), None)
            authorized = server.token is None or (
                self.headers.get("Authorization") == f"Bearer {server.token}"
            )
            try:
                body = json.loads(raw, parse_constant=_not_json) if raw else {}
            except ValueError as exc:  # NaN and Infinity are not JSON: real servers refuse them
                server._record(Seen(protocol, self.path, {}, len(raw), authorized, 400))
                self._send(400, {"error": f"invalid JSON body: {exc}"}, {})
                return
            action = server._next_action()
            if server.latency_s:
                time.sleep(server.latency_s)
            if action is not None and action.kind == "slow":
                # Recorded now: the client has given up on it before it is answered.
                server._record(Seen(protocol, self.path, body, len(raw), authorized, "slow"))
                time.sleep(action.delay_s)
                self._send(*self._answer(None, protocol, body, raw, authorized))
                return
            if action is not None and action.kind in ("trickle", "trickle_headers"):
                server._record(Seen(protocol, self.path, body, len(raw), authorized, action.kind))
                code, payload, _ = self._answer(None, protocol, body, raw, authorized)
                self._trickle(code, payload, action)
                return
            if action is not None and action.kind == "reset":
                server._record(Seen(protocol, self.path, body, len(raw), authorized, "reset"))
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True
                return
            code, payload, headers = self._answer(action, protocol, body, raw, authorized)
            named = action is not None and action.kind in ("error_body", "short", "echo_auth")
            answer = action.kind if named and action is not None else code
            server._record(Seen(protocol, self.path, body, len(raw), authorized, answer))
            self._send(code, payload, headers)
            if code >= 500 and server.close_after_error_s is not None:
                time.sleep(server.close_after_error_s)
                self.close_connection = True

        def _answer(
            self, action: Action | None, protocol: str | None, body: dict[str, Any],
            raw: bytes, authorized: bool,
        ) -> tuple[int, Any, dict[str, str]]:
            if action is not None and action.kind == "status":
                return action.status, {"error": action.message or "scripted"}, action.headers
            if action is not None and action.kind == "text":
                return action.status, action.message.encode(), {}
            if action is not None and action.kind == "error_body":
                return 200, {"error": action.message}, {}
            if action is not None and action.kind == "echo_auth":
                sent = self.headers.get("Authorization")
                return action.status, {"error": f"invalid credentials {sent!r}"}, {}
            if action is not None and action.kind == "short":
                code, payload, headers = self._answer(None, protocol, body, raw, authorized)
                if code == 200 and "predictions" in payload:
                    payload["predictions"] = payload["predictions"][:-1]
                elif code == 200:
                    for output in payload["outputs"]:
                        rows = output["shape"][0]
                        output["data"] = output["data"][: len(output["data"]) // rows * (rows - 1)]
                        output["shape"][0] = rows - 1
                return code, payload, headers
            if not authorized:
                return 401, {"error": {"code": 401, "message": "request is not authenticated"}}, {}
            if protocol is None:
                return 404, {"error": f"no model at {self.path}"}, {}
            if server.max_body_bytes is not None and len(raw) > server.max_body_bytes:
                return 413, {"error": "payload too large"}, {}
            try:
                if protocol == "v2":
                    return 200, _infer_v2(body, named=server.named_outputs), {}
                predictions = [_score(i, x) for i, x in enumerate(body["instances"])]
            except _BadInstance as exc:
                return 400, {"error": str(exc)}, {}
            except _Crash:
                return 500, "Internal Server Error", {}
            extra = {"deployedModelId": "42"} if protocol == "vertex" else {}
            return 200, {"predictions": predictions, **extra}, {}

        def _trickle(self, code: int, payload: Any, action: Action) -> None:
            data = json.dumps(payload).encode()
            data += b" " * max(0, action.size - len(data))
            head = (
                f"HTTP/1.1 {code} OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode()
            slow = head + data if action.kind == "trickle_headers" else data
            if action.kind == "trickle":
                self.wfile.write(head)
                self.wfile.flush()
            for i in range(len(slow)):
                time.sleep(action.delay_s)
                self.wfile.write(slow[i : i + 1])
                self.wfile.flush()

        def _send(self, code: int, payload: Any, headers: dict[str, str]) -> None:
            raw = isinstance(payload, bytes)
            data = payload if raw else json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if raw else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


class _BadInstance(Exception):
    pass


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


class _Crash(Exception):
    pass


def _score(index: int, value: Any) -> Any:
    if value == "crash":
        raise _Crash
    if value == "bad":
        raise _BadInstance(f"instance {index} is invalid: 'bad' is not a valid input")
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value * 2
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, list):
        return [_score(index, v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        try:
            return {"length": len(base64.b64decode(value["b64"], validate=True))}
        except (TypeError, ValueError):
            raise _BadInstance(f"instance {index}: 'b64' is not base64") from None
    if isinstance(value, dict):
        return {k: _score(index, v) for k, v in value.items()}
    raise _BadInstance(f"instance {index}: unsupported {type(value).__name__}")


_V2_DTYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "INT8": np.int8, "INT16": np.int16, "INT32": np.int32,
    "INT64": np.int64, "FP16": np.float16, "FP32": np.float32, "FP64": np.float64,
}


def _infer_v2(body: dict[str, Any], *, named: bool = True) -> dict[str, Any]:
    """Checks each tensor as KServe does (size, datatype), then "runs" it in that datatype."""
    outputs = []
    for tensor in body["inputs"]:
        flat, shape, datatype = tensor["data"], tensor["shape"], tensor["datatype"]
        if len(flat) != int(np.prod(shape)):
            raise _BadInstance(f"input {tensor['name']!r}: {len(flat)} values for shape {shape}")
        if "bad" in flat:
            raise _BadInstance(f"input {tensor['name']!r} holds an invalid value 'bad'")
        if "crash" in flat:
            raise _Crash
        if datatype == "BYTES":
            if not all(isinstance(v, str) for v in flat):
                raise _BadInstance(f"input {tensor['name']!r}: BYTES data must be strings")
            result = np.asarray([v.upper() for v in flat], dtype=object).reshape(shape)
        elif datatype in _V2_DTYPES:
            if not all(isinstance(v, int | float) for v in flat):
                raise _BadInstance(f"input {tensor['name']!r}: {datatype} data must be numbers")
            data = np.asarray(flat, dtype=_V2_DTYPES[datatype]).reshape(shape)
            result = ~data if datatype == "BOOL" else data * 2
        else:
            raise _BadInstance(f"input {tensor['name']!r}: unknown datatype {datatype!r}")
        output = {"shape": list(result.shape), "datatype": datatype,
                  "data": result.ravel().tolist()}
        if named:
            output = {"name": f"{tensor['name']}_out", **output}
        outputs.append(output)
    wanted = [o["name"] for o in body.get("outputs", [])]
    if wanted and named:
        outputs = [o for o in outputs if o["name"] in wanted]
    return {"model_name": "m", "outputs": outputs}
