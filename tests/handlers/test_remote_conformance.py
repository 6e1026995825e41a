"""The remote handler passes the conformance suite against the loopback prediction server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import infergraph as ig
from infergraph.testing import HandlerConformance
from tests.handlers.remote_server import PredictionServer


class TestRemoteConformance(HandlerConformance):
    good_examples = (1, 2.5, "text", [1, 2], {"b64": "AAEC"})
    bad_examples = ("bad", ["fine", "bad"])

    @pytest.fixture(autouse=True, scope="class")
    def _build(self, request: pytest.FixtureRequest) -> Iterator[None]:
        with PredictionServer() as server:
            request.cls.handler = ig.handler(
                "remote", protocol="tf_serving", endpoint=server.url, model="m", timeout_s=5.0
            )
            yield
