"""The runner of local ``infergraph run`` and ``infergraph predict`` runs: Beam's in-process one.

Beam's ``DirectRunner`` first tries the Prism runner: it converts the pipeline, looks for the
Prism binary (downloading it from the internet when it can) and starts it as a job server, and
only when that fails runs the pipeline in this process on the ``FnApiRunner``. So the same
command ran on different engines depending on the network, and paid for the attempt (a second
conversion of the pipeline and a failed start, about 0.2 s per run here) on every run.

:class:`LocalRunner` is the ``DirectRunner`` without that attempt: a bounded pipeline runs on the
``FnApiRunner``, set up as the ``DirectRunner`` sets it up (the pipeline options reach the
workers; ``--direct_running_mode`` and ``--direct_num_workers`` work as documented by Beam);
anything else (a streaming pipeline) goes to the ``DirectRunner`` itself. Ask for Prism by name
(``--runner PrismRunner``) to use it. Its worker processes (``multi_processing``) keep their
logs off the terminal, sending them to this process only (:mod:`infergraph.beam.worker`).
"""

from __future__ import annotations

import sys
from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.portability.api import beam_provision_api_pb2
from apache_beam.runners.direct.direct_runner import SwitchingDirectRunner
from apache_beam.runners.portability.fn_api_runner import fn_runner
from apache_beam.runners.portability.portable_runner import JobServiceHandle
from apache_beam.transforms.environments import SubprocessSDKEnvironment

from .worker import sdk_worker_command

__all__ = ["DIRECT_NAMES", "LocalRunner", "local_runner"]

DIRECT_NAMES = frozenset({"direct", "directrunner", "switchingdirectrunner"})
"""The names of Beam's DirectRunner (lower case), which :func:`local_runner` replaces."""


class LocalRunner(SwitchingDirectRunner):
    """Beam's DirectRunner, without its attempt to download and start Prism."""

    def run_pipeline(self, pipeline: Any, options: PipelineOptions) -> Any:
        if options.view_as(StandardOptions).streaming:
            return super().run_pipeline(pipeline, options)
        encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
        provision = fn_runner.ExtendedProvisionInfo(
            beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)
        )
        return _FnApiRunner(provision_info=provision).run_pipeline(pipeline, options)


class _FnApiRunner(fn_runner.FnApiRunner):
    """Beam's ``FnApiRunner`` whose worker processes start as :mod:`infergraph.beam.worker` says.

    ``FnApiRunner.run_pipeline`` sets the environment of ``multi_processing`` runs itself, to
    ``python -m apache_beam.runners.worker.sdk_worker_main``; this setter swaps in the module.
    """

    @property
    def _default_environment(self) -> Any:
        return self._environment

    @_default_environment.setter
    def _default_environment(self, environment: Any) -> None:
        beam_worker = f"{sys.executable} -m apache_beam.runners.worker.sdk_worker_main"
        if getattr(environment, "command_string", None) == beam_worker:
            environment = SubprocessSDKEnvironment.from_command_string(sdk_worker_command())
        self._environment = environment


def local_runner(options: PipelineOptions) -> LocalRunner | None:
    """A :class:`LocalRunner` when ``options`` name the DirectRunner (or no runner), else None."""
    name = options.view_as(StandardOptions).runner
    if name is None or name.lower() in DIRECT_NAMES:
        return LocalRunner()
    return None
