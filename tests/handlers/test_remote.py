"""The remote handler against a real local server: protocols, batching, faults, auth."""

from __future__ import annotations

import base64
import itertools
import logging
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import infergraph as ig
from infergraph.core.errors import ConfigError
from infergraph.handlers.remote import RemoteHandler
from tests.handlers.remote_server import Action, PredictionServer, status


class FakeTime:
    """A clock that only moves when something sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class FakeCredentials:
    """Google-style credentials: a token that expires after ``uses`` headers, then refreshes."""

    def __init__(self, tokens: list[str], uses: int = 1000) -> None:
        self._tokens = tokens
        self.refreshes = 0
        self.token: str | None = None
        self._uses = uses
        self._left = 0

    @property
    def valid(self) -> bool:
        self._left -= 1
        return self.token is not None and self._left >= 0

    def refresh(self, request: Any) -> None:
        self.token = self._tokens[min(self.refreshes, len(self._tokens) - 1)]
        self.refreshes += 1
        self._left = self._uses


@pytest.fixture
def server() -> Iterator[PredictionServer]:
    with PredictionServer() as srv:
        yield srv


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make(server: PredictionServer, fake_time: FakeTime, **options: Any) -> RemoteHandler:
    defaults: dict[str, Any] = {
        "protocol": "tf_serving", "endpoint": server.url, "model": "m", "timeout_s": 2.0,
    }
    return RemoteHandler(
        clock=fake_time.clock, sleep=fake_time.sleep, random=lambda: 0.75,
        **{**defaults, **options},
    )


def outputs(results: list[Any]) -> list[Any]:
    return [r.output if isinstance(r, ig.Prediction) else r for r in results]


# -- config ----------------------------------------------------------------------------------


def test_registered_and_built_by_name() -> None:
    handler = ig.handler("remote", protocol="v2", endpoint="http://localhost:8000", model="m")
    assert isinstance(handler, RemoteHandler)
    assert handler.model_id == "remote:v2:m"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"protocol": "vertex", "project": "p"}, "protocol 'vertex' needs location, endpoint_id"),
        ({"protocol": "tf_serving", "model": "m"}, "protocol 'tf_serving' needs endpoint"),
        (
            {"protocol": "v2", "model": "m", "endpoint": "http://example.com"},
            "plain http to a non-loopback host; use https, or set allow_http=true",
        ),
        ({"protocol": "v2", "model": "m", "endpoint": "ftp://x"}, "must be an http(s) URL"),
        ({"protocol": "grpc"}, "protocol: Input should be"),
        (
            {"protocol": "v2", "model": "m", "endpoint": "https://h", "auth": "token"},
            "auth='token' needs a token",
        ),
        (
            {"protocol": "v2", "model": "m", "endpoint": "https://h", "token": ""},
            "token: Value error, must not be empty",
        ),
        (
            {"protocol": "v2", "model": "m", "endpoint": "https://h", "backoff_initial_s": 5,
             "backoff_max_s": 2},
            "backoff_initial_s (5.0) exceeds backoff_max_s (2.0)",
        ),
        (
            {"protocol": "v2", "model": "m", "endpoint": "https://h", "breaker_failures": 0},
            "breaker_failures: Input should be greater than or equal to 1",
        ),
        (
            {"protocol": "v2", "model": "m", "endpoint": "https://h", "run_deadline_s": 0},
            "run_deadline_s: Input should be greater than 0",
        ),
    ],
)
def test_bad_config_names_the_problem(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match="invalid config for handler 'remote'") as info:
        ig.handler("remote", **options)
    assert problem in str(info.value)


def test_http_allowed_for_loopback_or_when_asked() -> None:
    ig.handler("remote", protocol="v2", model="m", endpoint="http://127.0.0.1:9")
    ig.handler("remote", protocol="v2", model="m", endpoint="http://[::1]:9")
    ig.handler("remote", protocol="v2", model="m", endpoint="http://h:9", allow_http=True)


def test_default_google_urls() -> None:
    vertex = RemoteHandler(protocol="vertex", project="p", location="europe-west4", endpoint_id="7")
    legacy = RemoteHandler(protocol="ai_platform", project="p", model="m", version="v2")
    assert vertex.load().url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4"
        "/endpoints/7:predict"
    )
    assert legacy.load().url == (
        "https://us-central1-ml.googleapis.com/v1/projects/p/models/m/versions/v2:predict"
    )


def test_no_network_at_construction_or_load(server: PredictionServer) -> None:
    handler = ig.handler("remote", protocol="tf_serving", endpoint=server.url, model="m")
    client = handler.load()  # type: ignore[attr-defined]
    assert server.seen == []
    assert client._pool is None


def test_handler_pickles_without_live_resources(server: PredictionServer) -> None:
    import pickle

    handler = ig.handler("remote", protocol="tf_serving", endpoint=server.url, model="m")
    list(ig.predict(handler, [1]))
    clone = pickle.loads(pickle.dumps(handler))
    assert [r.output for r in ig.predict(clone, [3])] == [6]


# -- protocols -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "path"),
    [
        ({"protocol": "ai_platform", "project": "p", "model": "m", "version": "v1",
          "signature_name": "serving_default"},
         "/v1/projects/p/models/m/versions/v1:predict"),
        ({"protocol": "vertex", "project": "p", "location": "us-east1", "endpoint_id": "123",
          "parameters": {"confidence": 0.5}},
         "/v1/projects/p/locations/us-east1/endpoints/123:predict"),
        ({"protocol": "tf_serving", "model": "m", "version": "3"},
         "/v1/models/m/versions/3:predict"),
    ],
)
def test_instances_protocols(
    server: PredictionServer, fake_time: FakeTime, options: dict[str, Any], path: str
) -> None:
    handler = make(server, fake_time, **options)
    data = [1, 2.5, "abc", [1, 2], {"x": 3}, b"\x00\xff\x10"]
    results = list(ig.predict(handler, data, keyed=False))
    assert outputs(results) == [2, 5.0, "ABC", [2, 4], {"x": 6}, {"length": 3}]
    (seen,) = server.seen
    assert seen.path == path
    assert seen.body["instances"][-1] == {"b64": base64.b64encode(b"\x00\xff\x10").decode()}
    assert seen.body.get("signature_name") == options.get("signature_name")
    assert seen.body.get("parameters") == options.get("parameters")


def test_nan_and_infinity_fail_alone_and_bodies_stay_valid_json(
    server: PredictionServer, fake_time: FakeTime
) -> None:
    import math

    import numpy as np

    handler = make(server, fake_time)
    data = [("a", 1.5), ("nan", math.nan), ("inf", [1.0, -math.inf]),
            ("array", np.array([np.nan])), ("nested", {"x": [math.inf]}), ("b", 2.5)]
    results = list(ig.predict(handler, data))
    assert [r.key for r in results] == [key for key, _ in data]
    assert outputs([results[0], results[-1]]) == [3.0, 5.0]
    for failure in results[1:-1]:
        assert isinstance(failure, ig.Failure) and failure.error_type == "InputError"
        assert "holds NaN or Infinity, which JSON request bodies cannot carry" in failure.message
    (seen,) = server.seen
    assert seen.body["instances"] == [1.5, 2.5]


def test_serialized_protos_go_as_b64(server: PredictionServer, fake_time: FakeTime) -> None:
    class Example:  # anything with SerializeToString, like tf.train.Example
        def SerializeToString(self) -> bytes:
            return b"\x0a\x05hello"

    results = list(ig.predict(make(server, fake_time), [Example()]))
    assert outputs(results) == [{"length": 7}]


def test_open_inference_protocol_named_tensors(
    server: PredictionServer, fake_time: FakeTime
) -> None:
    handler = make(server, fake_time, protocol="v2", model="m", version="1")
    results = list(ig.predict(handler, [("a", [1.0, 2.0]), ("b", [3.0, 4.0])]))
    assert [(r.key, r.output) for r in results] == [("a", [2.0, 4.0]), ("b", [6.0, 8.0])]
    (seen,) = server.seen
    assert seen.path == "/v2/models/m/versions/1/infer"
    assert seen.body["inputs"] == [
        {"name": "input", "shape": [2, 2], "datatype": "FP64", "data": [1.0, 2.0, 3.0, 4.0]}
    ]


def test_open_inference_protocol_several_inputs_and_outputs(
    server: PredictionServer, fake_time: FakeTime
) -> None:
    handler = make(server, fake_time, protocol="v2", model="m")
    data = [{"n": 1, "s": b"ab"}, {"n": 2, "s": b"cd"}]
    assert outputs(list(ig.predict(handler, data))) == [
        {"n_out": 2, "s_out": "AB"}, {"n_out": 4, "s_out": "CD"}
    ]
    assert [t["datatype"] for t in server.seen[0].body["inputs"]] == ["INT64", "BYTES"]


def test_open_inference_protocol_rejects_non_utf8_bytes(
    server: PredictionServer, fake_time: FakeTime
) -> None:
    handler = make(server, fake_time, protocol="v2", model="m")
    first, second = ig.predict(handler, [b"\xff\xfe", b"ok"])
    assert isinstance(first, ig.Failure) and first.error_type == "InputError"
    assert "not valid UTF-8" in first.message
    assert isinstance(second, ig.Prediction) and second.output == "OK"


# -- batching for the wire -------------------------------------------------------------------


def test_order_keys_and_concurrency(server: PredictionServer, fake_time: FakeTime) -> None:
    server.latency_s = 0.02
    handler = make(server, fake_time, max_instances_per_request=5, concurrency=4)
    data = [(f"k{i}", i) for i in range(97)]
    results = list(ig.predict(handler, data))
    assert [(r.key, r.output) for r in results] == [(f"k{i}", 2 * i) for i in range(97)]
    assert len(server.seen) == 20
    assert all(len(s.body["instances"]) <= 5 for s in server.seen)
    assert server.max_in_flight > 1


def test_byte_budget_splits_requests(server: PredictionServer, fake_time: FakeTime) -> None:
    handler = make(server, fake_time, max_request_bytes=1000)
    data = ["x" * 300 for _ in range(10)]
    results = list(ig.predict(handler, data))
    assert outputs(results) == ["X" * 300] * 10
    assert len(server.seen) == 4
    assert all(s.nbytes <= 1000 + 50 for s in server.seen)  # the envelope adds a few bytes


def test_413_splits_and_retries_the_halves(fake_time: FakeTime) -> None:
    with PredictionServer(max_body_bytes=400) as srv:
        handler = make(srv, fake_time, concurrency=1)
        data = [(i, "y" * 60) for i in range(16)]
        results = list(ig.predict(handler, data))
    assert [(r.key, r.output) for r in results] == [(i, "Y" * 60) for i in range(16)]
    answers = srv.answers()
    assert answers.count(413) == 3 and answers.count(200) == 4
    assert fake_time.sleeps == []


def test_payload_too_large_message_splits(server: PredictionServer, fake_time: FakeTime) -> None:
    server.script(status(400, "Request payload size exceeds the limit: 1572864 bytes."))
    handler = make(server, fake_time)
    assert outputs(list(ig.predict(handler, [1, 2, 3, 4]))) == [2, 4, 6, 8]
    assert [len(s.body["instances"]) for s in server.seen] == [4, 2, 2]


def test_single_instance_too_large_fails_alone(fake_time: FakeTime) -> None:
    with PredictionServer(max_body_bytes=200) as srv:
        handler = make(srv, fake_time)
        small, big = ig.predict(handler, [("s", "a"), ("b", "z" * 500)])
    assert isinstance(small, ig.Prediction) and small.output == "A"
    assert isinstance(big, ig.Failure) and big.key == "b"
    assert big.error_type == "RequestRejectedError"
    assert "finds a single instance too large: payload too large" in big.message


# -- faults ----------------------------------------------------------------------------------


def test_429_honours_retry_after(server: PredictionServer, fake_time: FakeTime) -> None:
    server.script(status(429, "slow down", Retry_After="3"), status(429, Retry_After="7"))
    handler = make(server, fake_time)
    assert outputs(list(ig.predict(handler, [1, 2]))) == [2, 4]
    assert fake_time.sleeps == [3.0, 7.0]
    assert server.answers() == [429, 429, 200]


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_transient_statuses_retry_with_full_jitter(
    server: PredictionServer, fake_time: FakeTime, code: int
) -> None:
    server.script(status(code), status(code), status(code))
    handler = make(server, fake_time, backoff_initial_s=0.2)
    assert outputs(list(ig.predict(handler, [5]))) == [10]
    # random() is 0.75: three quarters of the ceilings 0.2, 0.4 and 0.8.
    assert fake_time.sleeps == pytest.approx([0.15, 0.3, 0.6])


def test_exhausted_retries_fail_the_request_without_bisection(
    server: PredictionServer, fake_time: FakeTime
) -> None:
    server.script(*[status(503, "backend unavailable")] * 20)
    handler = make(server, fake_time, max_attempts=4, max_instances_per_request=4)
    results = list(ig.predict(handler, [("a", 1), ("b", 2), ("c", 3), ("d", 4)]))
    assert [type(r) for r in results] == [ig.Failure] * 4
    assert [r.key for r in results] == ["a", "b", "c", "d"]
    failure = results[0]
    assert isinstance(failure, ig.Failure)
    assert failure.error_type == "EndpointUnavailableError"
    assert "still failing after 4 attempt(s)" in failure.message
    assert "last: HTTP 503: backend unavailable" in failure.message
    assert len(server.seen) == 4


def test_deadline_bounds_the_retries(server: PredictionServer, fake_time: FakeTime) -> None:
    server.script(*[status(429, Retry_After="40")] * 5)
    handler = make(server, fake_time, deadline_s=100, max_attempts=10)
    (result,) = ig.predict(handler, [1])
    assert isinstance(result, ig.Failure) and result.error_type == "EndpointUnavailableError"
    assert "after 3 attempt(s)" in result.message
    assert fake_time.sleeps == [40.0, 40.0]


def test_slow_response_times_out_and_retries(server: PredictionServer, fake_time: FakeTime) -> None:
    server.script(Action("slow", delay_s=0.6))
    handler = make(server, fake_time, timeout_s=0.15)
    assert outputs(list(ig.predict(handler, [1]))) == [2]
    assert server.answers() == ["slow", 200]
    assert len(fake_time.sleeps) == 1


def test_connection_reset_is_retried(server: PredictionServer, fake_time: FakeTime) -> None:
    server.script(Action("reset"), Action("reset"))
    handler = make(server, fake_time)
    assert outputs(list(ig.predict(handler, [1, 2]))) == [2, 4]
    assert server.answers() == ["reset", "reset", 200]


def test_unreachable_endpoint_fails_with_no_response(fake_time: FakeTime) -> None:
    with PredictionServer() as srv:
        url = srv.url
    handler = RemoteHandler(
        protocol="tf_serving", endpoint=url, model="m", max_attempts=2,
        clock=fake_time.clock, sleep=fake_time.sleep, random=lambda: 0.5,
    )
    (result,) = ig.predict(handler, [1])
    assert isinstance(result, ig.Failure)
    assert "still failing after 2 attempt(s)" in result.message
    assert "last: no response: ConnectionError" in result.message


def test_200_with_error_body_fails_those_examples(
    server: PredictionServer, fake_time: FakeTime
) -> None:
    server.script(Action("error_body", message="Prediction failed: bad tensor shape"))
    handler = make(server, fake_time, protocol="ai_platform", project="p", model="m",
                   max_instances_per_request=2, concurrency=1)
    results = list(ig.predict(handler, [("a", 1), ("b", 2), ("c", 3)]))
    a, b, c = results
    assert isinstance(a, ig.Failure) and isinstance(b, ig.Failure)
    assert a.error_type == "RequestRejectedError"
    assert "rejected the request with HTTP 200: Prediction failed: bad tensor shape" in a.message
    assert isinstance(c, ig.Prediction) and c.output == 6
    assert len(server.seen) == 2 and fake_time.sleeps == []


def test_400_isolates_the_bad_instance(server: PredictionServer, fake_time: FakeTime) -> None:
    handler = make(server, fake_time, max_instances_per_request=8)
    data = [(i, "bad" if i == 5 else i) for i in range(16)]
    results = list(ig.predict(handler, data))
    assert [r.key for r in results] == list(range(16))
    failures = [r for r in results if isinstance(r, ig.Failure)]
    assert [f.key for f in failures] == [5]
    assert failures[0].error_type == "RequestRejectedError"
    assert "HTTP 400: instance 0 is invalid: 'bad' is not a valid input" in failures[0].message
    assert [r.output for r in results if isinstance(r, ig.Prediction)] == [
        2 * i for i in range(16) if i != 5
    ]
    assert fake_time.sleeps == []


def test_400_without_bisection_fails_the_request(
    server: PredictionServer, fake_time: FakeTime
) -> None:
    handler = make(server, fake_time, split_on_400=False)
    results = list(ig.predict(handler, [1, "bad", 3]))
    assert [type(r) for r in results] == [ig.Failure] * 3
    assert len(server.seen) == 1


@pytest.mark.parametrize("code", [401, 403, 404])
def test_client_errors_are_not_retried(
    server: PredictionServer, fake_time: FakeTime, code: int
) -> None:
    server.script(status(code, "nope"))
    handler = make(server, fake_time)
    results = list(ig.predict(handler, [1, 2]))
    assert [type(r) for r in results] == [ig.Failure] * 2
    assert f"rejected the request with HTTP {code}: nope" in results[0].message  # type: ignore[union-attr]
    assert len(server.seen) == 1 and fake_time.sleeps == []


def test_sustained_429_throttles_then_recovers(
    server: PredictionServer, fake_time: FakeTime
) -> None:
    server.script(*[status(429)] * 12)
    randoms = itertools.cycle([0.9, 0.3, 0.99, 0.6])
    handler = RemoteHandler(
        protocol="tf_serving", endpoint=server.url, model="m", max_instances_per_request=1,
        concurrency=1, max_attempts=50, throttle_delay_s=2.0, backoff_initial_s=0.01,
        backoff_max_s=0.01, clock=fake_time.clock, sleep=fake_time.sleep,
        random=lambda: next(randoms),
    )
    data = [(i, i) for i in range(6)]
    results = list(ig.predict(handler, data))
    assert [(r.key, r.output) for r in results] == [(i, 2 * i) for i in range(6)]
    throttle_waits = [s for s in fake_time.sleeps if s == 2.0]
    assert len(throttle_waits) >= 5, "the client held requests back on its own"
    # Held-back requests never reach the server, and no example is sent twice once answered.
    assert server.answers() == [429] * 12 + [200] * 6


# -- auth ------------------------------------------------------------------------------------


def test_google_credentials_refresh_and_stay_secret(
    fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = FakeCredentials(["tok-1", "tok-2"], uses=1)
    caplog.set_level(logging.DEBUG)
    with PredictionServer(token="tok-2") as srv:
        handler = RemoteHandler(
            protocol="vertex", project="p", location="l", endpoint_id="e", endpoint=srv.url,
            auth="google", credentials=credentials, max_instances_per_request=1, concurrency=1,
            clock=fake_time.clock, sleep=fake_time.sleep, random=lambda: 0.5,
        )
        results = list(ig.predict(handler, [1, 2, 3]))
        client = handler.load()
    # tok-1 is rejected (401, not retried); after it expires, tok-2 is accepted.
    assert [type(r).__name__ for r in results] == ["Failure", "Failure", "Prediction"]
    assert "HTTP 401: request is not authenticated" in results[0].message  # type: ignore[union-attr]
    assert credentials.refreshes == 2
    shown = caplog.text + repr(handler) + repr(client) + "".join(map(repr, results))
    assert "tok-" not in shown


def test_static_token_is_sent_and_never_shown(
    fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with PredictionServer(token="s3cr3t-value") as srv:
        srv.script(status(503))
        handler = make(srv, fake_time, token="s3cr3t-value")
        results = list(ig.predict(handler, [1]))
        assert [s.authorized for s in srv.seen] == [True, True]
    assert outputs(results) == [2]
    shown = (
        caplog.text + repr(handler) + str(handler.config) + handler.cache_key()
        + handler.config.model_dump_json() + repr(handler.load())
    )
    assert "s3cr3t" not in shown


def test_loopback_needs_no_credentials(server: PredictionServer) -> None:
    handler = RemoteHandler(
        protocol="vertex", project="p", location="l", endpoint_id="e", endpoint=server.url
    )
    assert repr(handler.load().auth) == "NoAuth()"
    assert outputs(list(ig.predict(handler, [4]))) == [8]


def test_import_stays_light() -> None:
    code = (
        "import sys, infergraph; import infergraph.handlers.remote;"
        "print([m for m in ('requests', 'google.auth', 'apache_beam') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_docs_examples_build_handlers(capsys: pytest.CaptureFixture[str]) -> None:
    page = Path(__file__).parents[2] / "docs" / "handlers" / "remote.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL)
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "remote:ai_platform:census https://europe-west1-ml.googleapis.com/v1/projects/my-project"
        "/models/census/versions/v3:predict",
        "remote:vertex:1234567890 https://us-central1-aiplatform.googleapis.com/v1/projects"
        "/my-project/locations/us-central1/endpoints/1234567890:predict",
        "remote:tf_serving:half_plus_two http://localhost:8501/v1/models/half_plus_two:predict",
        "remote:v2:resnet https://triton.internal.example.com/v2/models/resnet/infer",
        "remote:vertex:1234567890 https://1234567890.us-central1-123456.prediction.vertexai.goog"
        "/v1/projects/my-project/locations/us-central1/endpoints/1234567890:predict",
    ]
    assert "not-a-real-token" not in repr(namespace["v2"])
