from __future__ import annotations

import logging
from pathlib import Path

import pytest

from infergraph.core.memory import BATCH_CAPS
from tests import onnx_models


@pytest.fixture(scope="session")
def onnx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="session")
def five_onnx(onnx_dir: Path) -> Path:
    return onnx_models.linear(onnx_dir / "five.onnx", 5.0)


@pytest.fixture(scope="session")
def ten_onnx(onnx_dir: Path) -> Path:
    return onnx_models.linear(onnx_dir / "ten.onnx", 10.0)


@pytest.fixture(scope="session")
def two_inputs_onnx(onnx_dir: Path) -> Path:
    return onnx_models.two_inputs(onnx_dir / "two_inputs.onnx")


@pytest.fixture(scope="session")
def two_outputs_onnx(onnx_dir: Path) -> Path:
    return onnx_models.two_outputs(onnx_dir / "two_outputs.onnx")


@pytest.fixture(autouse=True)
def _quiet_beam() -> None:
    # Beam logs an apitools notice at WARNING on import; it is not ours to report.
    logging.getLogger("apache_beam").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _forget_batch_caps() -> None:
    # Out-of-memory limits are per process; one test's must not shrink another's batches.
    BATCH_CAPS.clear()
