from __future__ import annotations

import pytest

from infergraph.core.sharing import SHARED_MODELS


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> None:
    # Graph tests count loads: start each one with no model kept loaded.
    SHARED_MODELS.clear()
