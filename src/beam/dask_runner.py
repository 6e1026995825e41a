"""Beam's Dask runner, with the outputs of ``finish_bundle`` kept.

Beam's ``DaskRunner`` (2.77) collects a ``DoFn``'s outputs before it calls ``finish_bundle``, so
whatever a DoFn emits there is lost: the last batch of every ``BatchElements`` partition, the
files a sink finishes writing. This runner applies each ``ParDo`` with a bundle function that
collects the outputs after ``finish_bundle``, each partition with its own receivers; it is
otherwise Beam's runner. ``infergraph run --runner dask`` uses it; in Python, pass
``--runner=infergraph.beam.dask_runner.DaskRunner``. It needs ``dask[distributed]``.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from typing import Any

import apache_beam
import dask
from apache_beam.io.filesystems import FileSystems
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask import transform_evaluator
from apache_beam.transforms.core import DoFn

from . import s3_fix
from .dask_metrics import TOPIC, CollectedMetrics, collected, counting
from .worker import QUIET_WORKERS, SETUP


class DaskRunner(beam_dask.DaskRunner):
    """Beam's Dask runner whose ``ParDo`` keeps the outputs of ``finish_bundle``."""

    def run_pipeline(self, pipeline: Any, options: Any) -> Any:
        """Run ``pipeline`` on the Dask cluster its options name (see Beam's DaskRunner)."""
        translations = transform_evaluator.TRANSLATIONS
        original = translations[apache_beam.ParDo]
        translations[apache_beam.ParDo] = _ParDo
        _ParDo.options = options
        _ParDo.topic = TOPIC + uuid.uuid4().hex[:12]
        # The workers of a local cluster (no --dask_client_address) share this terminal.
        preload = [SETUP] if os.environ.get(QUIET_WORKERS) else []
        try:
            with dask.config.set({"distributed.worker.preload": preload}):
                result = super().run_pipeline(pipeline, options)
        finally:
            translations[apache_beam.ParDo] = original
        return DaskResult(result.client, result.futures, _ParDo.topic)


@dataclasses.dataclass
class DaskResult(beam_dask.DaskRunnerResult):
    """Beam's Dask result, with the run's metrics (see :mod:`infergraph.beam.dask_metrics`)."""

    topic: str = ""
    collected: CollectedMetrics | None = None

    def wait_until_finish(self, duration: int | None = None) -> str:
        """Wait for the run, then read its metrics from the scheduler."""
        state: str = super().wait_until_finish(duration)
        self.collected = collected(self.client, self.topic)
        return state

    def metrics(self) -> CollectedMetrics:
        """The counters and distributions the run's DoFns reported."""
        if self.collected is None:
            self.collected = collected(self.client, self.topic)
        return self.collected


class _ParDo(transform_evaluator.ParDo):
    options: Any = None  # the run's pipeline options, set by DaskRunner.run_pipeline
    topic: str | None = None  # the topic of the run's metrics (see dask_metrics)

    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        transform = self.transform
        args, kwargs = transform.raw_side_inputs
        main_input = next(iter(self.applied.main_inputs.values()))
        window_fn = getattr(getattr(main_input, "windowing", None), "windowfn", None)
        return input_bag.map(transform_evaluator.get_windowed_value, window_fn).map_partitions(
            _bundle,
            (transform, window_fn, side_inputs, list(args), kwargs, self.options, self.topic),
        )


def _bundle(items: Any, parts: tuple[Any, ...]) -> list[Any]:
    """One partition as one bundle: setup, process each item, finish, then collect.

    The worker's filesystems get the run's options first (Beam's Dask runner sets them in the
    launching process only), so that ``s3://`` paths reach the endpoint and credentials the
    options name (``--s3_endpoint_url``, ...).
    """
    transform, window_fn, side_inputs, args, kwargs, options, topic = parts
    if options is not None:
        FileSystems.set_options(options)
    s3_fix.install()
    receivers = transform_evaluator.OneReceiver()
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(transform.fn),
        _OutputHandler(
            window_fn=window_fn,
            main_receivers=receivers[None],
            tagged_receivers=receivers,
            per_element_output_counter=None,
            output_batch_converter=None,
            process_yields_batches=False,
            process_batch_yields_elements=False,
        ),
        context=DoFnContext(transform.label, state=None),
        side_inputs=side_inputs,
        input_args=args,
        input_kwargs=kwargs,
        user_state_context=None,
        bundle_finalizer_param=DoFn.BundleFinalizerParam(),
    )
    items = list(items)
    with counting(transform.label, topic, items):
        invoker.invoke_setup()
        invoker.invoke_start_bundle()
        for item in items:
            invoker.invoke_process(item)
        invoker.invoke_finish_bundle()
        invoker.invoke_teardown()
    return [value.value for value in receivers.values]
