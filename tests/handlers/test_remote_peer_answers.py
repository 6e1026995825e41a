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
from tests.handlers.remote_server import PredictionServer
from tests.handlers.test_remote_faults import FakeTime, check_invariants


def v2(server: PredictionServer, **options: Any) -> tuple[RemoteHandler, FakeTime]:
    fake = FakeTime()
    handler = RemoteHandler(
        protocol="v2", endpoint=server.url, model="m", clock=fake.clock, sleep=fake.sleep,
        random=lambda: 0.5, **options,
    )
    return handler, fake


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
