"""The runner of local CLI runs: Beam's DirectRunner without its attempt to start Prism."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability import prism_runner
from apache_beam.testing.util import assert_that, equal_to

from infergraph.beam.local_runner import LocalRunner, local_runner


@pytest.mark.parametrize(
    "args",
    [[], ["--runner=DirectRunner"], ["--runner", "direct"], ["--runner=SwitchingDirectRunner"]],
)
def test_the_direct_runner_becomes_the_local_runner(args: list[str]) -> None:
    assert isinstance(local_runner(PipelineOptions(args)), LocalRunner)


@pytest.mark.parametrize(
    "name", ["PrismRunner", "FlinkRunner", "infergraph.beam.dask_runner.DaskRunner"]
)
def test_other_runners_are_left_alone(name: str) -> None:
    assert local_runner(PipelineOptions([f"--runner={name}"])) is None


@pytest.mark.parametrize(
    "args",
    [
        ["--direct_running_mode=in_memory"],
        ["--direct_running_mode=multi_threading", "--direct_num_workers=2"],
    ],
)
def test_a_bounded_pipeline_runs_in_process_without_prism(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[str] = []

    def try_prism(self: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append("prism")  # the DirectRunner would catch an exception and fall back
        raise RuntimeError("no Prism here")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", try_prism)
    with beam.Pipeline(runner=LocalRunner(), options=PipelineOptions(args)) as pipeline:
        squares = pipeline | beam.Create(range(5)) | beam.Map(lambda x: x * x)
        assert_that(squares, equal_to([0, 1, 4, 9, 16]))
    assert pipeline.result.state == beam.runners.runner.PipelineState.DONE
    assert attempts == []
