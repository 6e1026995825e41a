"""What real servers answered (tests/peers), reproduced on the loopback server.

- MLServer answers HTTP 500 to a request whose input makes scikit-learn raise, with a Python
  traceback as a plain-text body; and v2 sends an example of another shape in a request of its
  own: a lone poison pill, often sent when no other request is in flight (concurrency 1).
- KServe (uvicorn) closes the connection after an error answer, without saying so: the next
  request sent on it is aborted.
- Both answer 404 to a model name they do not serve.
"""

from __future__ import annotations

from typing import Any

import infergraph as ig
from infergraph.handlers.remote import RemoteHandler
from tests.handlers.remote_server import PredictionServer, status, text
from tests.handlers.test_remote_faults import FakeTime, check_invariants


def v2(server: PredictionServer, **options: Any) -> tuple[RemoteHandler, FakeTime]:
    fake = FakeTime()
    handler = RemoteHandler(
        protocol="v2", endpoint=server.url, model="m", clock=fake.clock, sleep=fake.sleep,
        random=lambda: 0.5, **options,
    )
    return handler, fake


# Three poison pills of three shapes: three requests of one instance each.
POISON = {"p1": "crash", "p2": ["crash", "x"], "p3": ["crash", "x", "y"]}


def test_lone_poison_pills_fail_alone_when_sent_one_request_at_a_time() -> None:
    data: list[tuple[str, Any]] = [(f"k{i}", [float(i), 1.0]) for i in range(6)]
    data[2:2] = list(POISON.items())
    with PredictionServer() as srv:
        handler, _ = v2(srv, concurrency=1, max_attempts=3)
        observer = handler.load()
        results = list(ig.predict(handler, data))
    check_invariants(data, results)
    failures = {r.key: r for r in results if isinstance(r, ig.Failure)}
    assert sorted(failures) == sorted(POISON)
    for failure in failures.values():
        assert failure.error_type == "RequestRejectedError"
        assert "answered HTTP 500 to this instance alone" in failure.message
    # Three lone requests exhausted their retries in a row, but the endpoint kept answering
    # the others: the breaker stays closed.
    assert observer.metrics()["breaker_state"] == "closed"


def test_a_lone_poison_pill_sent_before_any_answer() -> None:
    # Its request goes first: the evidence that the endpoint is up comes after it.
    data: list[tuple[str, Any]] = [("p", "crash"), *((f"k{i}", [1.0, 2.0]) for i in range(3))]
    with PredictionServer() as srv:
        handler, _ = v2(srv, concurrency=1, max_attempts=2)
        results = list(ig.predict(handler, data))
    check_invariants(data, results)
    assert [r.error_type for r in results if isinstance(r, ig.Failure)] == [
        "RequestRejectedError"
    ]


def test_an_outage_answering_500_is_still_an_outage() -> None:
    with PredictionServer() as srv:
        srv.script(*[status(500, "model crashed")] * 100)
        handler, _ = v2(srv, concurrency=1, max_attempts=2, max_batch_size=1)
        observer = handler.load()
        results = list(ig.predict(handler, [("a", "x"), ("b", "y"), ("c", "z"), ("d", "w")]))
    kinds = [r.error_type for r in results]  # type: ignore[union-attr]
    assert kinds == ["EndpointUnavailableError"] * 3 + ["CircuitOpenError"]
    assert "last: HTTP 500: model crashed" in results[0].message  # type: ignore[union-attr]
    assert observer.metrics()["breaker_state"] == "open"


# MLServer's answer to a 1-D input of a scikit-learn model (its frames shortened).
TRACEBACK = """Traceback (most recent call last):
  File "/venv/site-packages/mlserver_sklearn/sklearn.py", line 99, in _get_model_outputs
    y = predict_fn(decoded_request)
  File "/venv/site-packages/sklearn/utils/validation.py", line 1076, in check_array
    raise ValueError(msg)
ValueError: Expected 2D array, got 1D array instead:
array=[5.].
Reshape your data either using array.reshape(-1, 1) if your data has a single feature or \
array.reshape(1, -1) if it contains a single sample.
"""


def test_a_traceback_answer_is_reported_by_its_exception() -> None:
    with PredictionServer() as srv:
        srv.script(*[text(500, TRACEBACK)] * 2)
        handler, _ = v2(srv, max_attempts=2)
        (result,) = ig.predict(handler, [("a", 5.0)])
    assert isinstance(result, ig.Failure)
    assert (
        "last: HTTP 500: ValueError: Expected 2D array, got 1D array instead: array=[5.]. "
        "Reshape your data" in result.message
    )
    assert "Traceback" not in result.message and "sklearn.py" not in result.message


def test_a_connection_closed_after_an_error_answer_is_not_an_outage() -> None:
    data = [(i, "crash" if i == 5 else i) for i in range(8)]
    with PredictionServer(close_after_error_s=0.2) as srv:
        handler = RemoteHandler(
            protocol="tf_serving", endpoint=srv.url, model="m", concurrency=1, max_attempts=3,
            backoff_initial_s=0.01, backoff_max_s=0.01,
        )
        results = list(ig.predict(handler, data))
    check_invariants(data, results)
    failures = [r for r in results if isinstance(r, ig.Failure)]
    assert [(f.key, f.error_type) for f in failures] == [(5, "RequestRejectedError")]
    assert "answered HTTP 500 to this instance alone" in failures[0].message


def test_a_wrong_model_name_says_what_to_fix() -> None:
    with PredictionServer() as srv:
        srv.script(status(404, "Model regresor not found"))
        handler = RemoteHandler(protocol="v2", endpoint=srv.url, model="regresor", version="2")
        (result,) = ig.predict(handler, [[1.0, 2.0]])
    assert isinstance(result, ig.Failure) and result.error_type == "RequestRejectedError"
    assert result.message.endswith(
        "rejected the request with HTTP 404: Model regresor not found; the server has no model "
        "at this URL: check model='regresor', version='2' against the models it serves, and "
        "the endpoint"
    )


def test_a_wrong_vertex_endpoint_and_bad_credentials_say_what_to_fix() -> None:
    with PredictionServer() as srv:
        srv.script(status(404, "Endpoint not found."), status(403, "Permission denied."))
        handler = RemoteHandler(
            protocol="vertex", endpoint=srv.url, project="p", location="l", endpoint_id="42",
            max_batch_size=1,
        )
        missing, denied = ig.predict(handler, [1, 2])
    assert (
        "HTTP 404: Endpoint not found; the server has no model at this URL: check "
        "endpoint_id='42', project and location" in missing.message  # type: ignore[union-attr]
    )
    assert "HTTP 403: Permission denied; check the credentials: auth, and token if set" in (
        denied.message  # type: ignore[union-attr]
    )


def test_a_server_down_from_the_start_is_reported_plainly() -> None:
    with PredictionServer() as srv:
        url = srv.url  # nobody listens there once the server is closed
    handler = RemoteHandler(
        protocol="v2", endpoint=url, model="m", max_attempts=2, backoff_initial_s=0.01
    )
    (result,) = ig.predict(handler, [[1.0, 2.0]])
    assert isinstance(result, ig.Failure) and result.error_type == "EndpointUnavailableError"
    assert (
        "last: no response: ConnectionError: Failed to establish a new connection: [Errno 111] "
        "Connection refused. Check the endpoint" in result.message
    )
    assert "Max retries exceeded" not in result.message
