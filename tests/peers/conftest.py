"""Fixtures of the peer tests: one real MLServer and one KServe server per module (servers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers import servers


@pytest.fixture(scope="module")
def mlserver_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.mlserver(tmp_path_factory.mktemp("mlserver")) as url:
        yield url


@pytest.fixture(scope="module")
def kserve_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with servers.kserve(tmp_path_factory.mktemp("kserve")) as url:
        yield url
