"""``ig.predict`` keeps loaded models for the process: bounded, thread-safe, never stale."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import Field

import infergraph as ig
from infergraph.core.metrics import RunStats
from infergraph.core.sharing import SHARED_MODELS, SharedModels
from tests.core.handlers import ScaleConfig, ScaleHandler


class FileScaleConfig(ScaleConfig):
    path: str = Field(description="A file standing for the model's weights.")


class FileScale(ScaleHandler):
    """Reads its factor from a file, like a model read from disk."""

    Config = FileScaleConfig
    config: FileScaleConfig

    def load(self) -> float:
        ScaleHandler.loads += 1
        return float(Path(self.config.path).read_text())


@pytest.fixture(autouse=True)
def _reset() -> None:
    ScaleHandler.loads = 0
    ScaleHandler.calls = []
    yield
    SHARED_MODELS.configure(max_models=4, max_bytes=None)


def test_repeated_predict_calls_load_once() -> None:
    stats = RunStats()
    for _ in range(3):
        (result,) = ig.predict(ScaleHandler(factor=3.0), [1.0], metrics=stats)
        assert float(result.output) == 3.0
    assert ScaleHandler.loads == 1
    assert stats.distributions["load_time_ms"].count == 1
    assert ig.model_cache.loaded() == [ScaleHandler(factor=3.0).cache_key()]
    ig.model_cache.clear()
    list(ig.predict(ScaleHandler(factor=3.0), [1.0]))
    assert ScaleHandler.loads == 2


def test_least_recently_used_models_are_dropped_beyond_the_count() -> None:
    ig.model_cache.configure(max_models=2)
    for factor in (1.0, 2.0, 3.0, 1.0):
        list(ig.predict(ScaleHandler(factor=factor), [1.0]))
    assert ScaleHandler.loads == 4  # 1.0 was dropped when 3.0 came, and loaded again
    keys = [ScaleHandler(factor=f).cache_key() for f in (3.0, 1.0)]
    assert ig.model_cache.loaded() == keys
    ig.model_cache.configure(max_models=0)
    assert ig.model_cache.loaded() == []


def test_a_byte_budget_counts_the_models_on_disk(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    small.write_text("2")
    large.write_text("3" + " " * 999)
    ig.model_cache.configure(max_bytes=500)
    assert ig.model_cache.max_models == 4  # a bound not given stays as it is
    list(ig.predict(FileScale(path=str(small)), [1.0]))
    list(ig.predict(FileScale(path=str(large)), [1.0]))
    assert ig.model_cache.loaded() == [FileScale(path=str(small)).cache_key()]
    (result,) = ig.predict(FileScale(path=str(large)), [1.0])
    assert float(result.output) == 3.0
    assert ScaleHandler.loads == 3  # the large one is not kept: loaded each time


def test_a_model_changed_on_disk_is_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "weights"
    path.write_text("2")
    handler = FileScale(path=str(path))
    (first,) = ig.predict(handler, [1.0])
    path.write_text("7")
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    (second,) = ig.predict(handler, [1.0])
    assert (float(first.output), float(second.output)) == (2.0, 7.0)
    assert ScaleHandler.loads == 2


def test_a_failing_load_is_not_remembered() -> None:
    class Flaky(ScaleHandler):
        failures: ClassVar[int] = 1

        def load(self) -> float:
            if type(self).failures:
                type(self).failures -= 1
                raise OSError("disk busy")
            return super().load()

    with pytest.raises(ig.ModelLoadError, match="disk busy"):
        list(ig.predict(Flaky(), [1.0]))
    assert ig.model_cache.loaded() == []
    (result,) = ig.predict(Flaky(), [1.0])
    assert float(result.output) == 2.0


def test_threads_share_one_load() -> None:
    handler = ScaleHandler(factor=4.0)
    outputs: list[float] = []

    def work() -> None:
        outputs.extend(float(r.output) for r in ig.predict(handler, [1.0, 2.0]))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ScaleHandler.loads == 1
    assert sorted(outputs) == [4.0] * 8 + [8.0] * 8


def test_bounds_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("INFERGRAPH_MODEL_CACHE_SIZE", "1")
    monkeypatch.setenv("INFERGRAPH_MODEL_CACHE_BYTES", "1000")
    cache = SharedModels()
    assert (cache.max_models, cache.max_bytes) == (1, 1000)
    monkeypatch.setenv("INFERGRAPH_MODEL_CACHE_SIZE", "many")
    caplog.set_level(logging.WARNING, logger="infergraph")
    assert SharedModels().max_models == 4
    assert "INFERGRAPH_MODEL_CACHE_SIZE must be an integer >= 0, got 'many'" in caplog.text


@pytest.mark.parametrize("bounds", [{"max_models": -1}, {"max_bytes": 1.5}, {"max_models": True}])
def test_bad_bounds_are_named(bounds: dict[str, object]) -> None:
    with pytest.raises(ig.ConfigError, match="model cache: max_"):
        SharedModels().configure(**bounds)  # type: ignore[arg-type]
