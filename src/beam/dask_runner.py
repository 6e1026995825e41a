"""Beam's Dask runner, with the outputs of ``finish_bundle`` kept.

Beam's ``DaskRunner`` (2.77) collects a ``DoFn``'s outputs before it calls ``finish_bundle``, so
whatever a DoFn emits there is lost: the last batch of every ``BatchElements`` partition, the
files a sink finishes writing. This runner applies each ``ParDo`` with a bundle function that
collects the outputs after ``finish_bundle``, each partition with its own receivers; it is
otherwise Beam's runner. ``infergraph run --runner dask`` uses it; in Python, pass
``--runner=infergraph.beam.dask_runner.DaskRunner``. It needs ``dask[distributed]``.
"""

from __future__ import annotations

import os
from typing import Any

import apache_beam
import dask
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, _OutputHandler
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask import transform_evaluator
from apache_beam.transforms.core import DoFn

from .worker import QUIET_WORKERS, SETUP


class DaskRunner(beam_dask.DaskRunner):
    """Beam's Dask runner whose ``ParDo`` keeps the outputs of ``finish_bundle``."""

    def run_pipeline(self, pipeline: Any, options: Any) -> Any:
        """Run ``pipeline`` on the Dask cluster its options name (see Beam's DaskRunner)."""
        translations = transform_evaluator.TRANSLATIONS
        original = translations[apache_beam.ParDo]
        translations[apache_beam.ParDo] = _ParDo
        # The workers of a local cluster (no --dask_client_address) share this terminal.
        preload = [SETUP] if os.environ.get(QUIET_WORKERS) else []
        try:
            with dask.config.set({"distributed.worker.preload": preload}):
                return super().run_pipeline(pipeline, options)
        finally:
            translations[apache_beam.ParDo] = original


class _ParDo(transform_evaluator.ParDo):
    def apply(self, input_bag: Any, side_inputs: Any = None) -> Any:
        transform = self.transform
        args, kwargs = transform.raw_side_inputs
        main_input = next(iter(self.applied.main_inputs.values()))
        window_fn = getattr(getattr(main_input, "windowing", None), "windowfn", None)
        return input_bag.map(transform_evaluator.get_windowed_value, window_fn).map_partitions(
            _bundle, (transform, window_fn, side_inputs, list(args), kwargs)
        )


def _bundle(items: Any, parts: tuple[Any, Any, Any, Any, Any]) -> list[Any]:
    """One partition as one bundle: setup, process each item, finish, then collect."""
    transform, window_fn, side_inputs, args, kwargs = parts
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
    invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(item)
    invoker.invoke_finish_bundle()
    invoker.invoke_teardown()
    return [value.value for value in receivers.values]
