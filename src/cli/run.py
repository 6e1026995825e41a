"""``infergraph run SPEC`` and ``infergraph schema``: run a graph spec on Beam; print its schema."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..graph.load import load_spec
from ..graph.plan import plan
from ..graph.records import graph_failure_record
from ..graph.spec import GraphSpec
from .display import count_records, print_summary, progress
from .errors import runner_failures
from .pipeline import (
    beam_args,
    check_paths,
    exit_status,
    own_options,
    runner_args,
    runner_of,
    runs_locally,
)


def add_parser(commands: Any) -> None:
    """Add the ``run`` and ``schema`` subcommands."""
    run = commands.add_parser(
        "run",
        help="run a graph spec (YAML or JSON) on Beam (DirectRunner by default)",
        description="Run a graph spec: read its inputs, run the graph on Beam, write results "
        "and failures, and print a summary. Exit status: 0 when done, 1 when every input "
        "failed (or any did, with --fail-on-failures), 2 for an invalid spec or option.",
        epilog="Arguments it does not know (--direct_num_workers=2, --project=...) go to Beam "
        "as pipeline options, after the spec's runner options.",
    )
    run.add_argument("spec", help="the graph spec file (.yaml, .yml or .json)")
    run.add_argument("--input", help="read this file (or glob) instead of the spec's one input")
    run.add_argument("--output", help="write results here instead of the spec's one output")
    run.add_argument(
        "--failures",
        help="write failures here (default: the spec's, or the output's name + .failures.jsonl)",
    )
    run.add_argument("--runner", help="the Beam runner (default: the spec's, else DirectRunner)")
    run.add_argument(
        "--fail-on-failures",
        action="store_true",
        help="exit with status 1 if any input failed (in any output)",
    )
    run.add_argument("--no-progress", action="store_true", help="do not show the live progress bar")
    run.set_defaults(run=run_spec, own_options=own_options(run))

    schema = commands.add_parser(
        "schema",
        help="print the JSON schema of graph spec files",
        description="Print the JSON schema of graph spec files (for editors and validators).",
    )
    schema.set_defaults(run=_schema)


def _schema(args: argparse.Namespace, extra: list[str]) -> int:
    print(json.dumps(GraphSpec.model_json_schema(), indent=2))
    return 0


def run_spec(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the spec ``args.spec``; the exit status (see the subcommand's description)."""
    run = plan(
        load_spec(args.spec),
        input_path=args.input,
        output_path=args.output,
        failures_file=args.failures,
    )
    outputs = run.outputs
    inputs = [path for _, path in run.inputs]
    check_paths(inputs, [out.path for out in outputs], run.failures, run.reads)
    pipeline_args = runner_args(run.runner.name, run.runner.options) + list(extra)
    if args.runner:
        pipeline_args.append(f"--runner={args.runner}")
    pipeline_args = beam_args(pipeline_args, args.own_options)
    # Beam loads only for the commands that run a pipeline (not for --help or schema).
    from ..beam.files import sink  # noqa: PLC0415 (Beam: lazy)
    from ..beam.run_files import PROGRESS, run_graph_files  # noqa: PLC0415 (Beam: lazy)

    order = [step.name for step in run.graph.validate()]
    sinks = [sink(out.format, out.path, out.nodes, order) for out in outputs]
    show = not args.no_progress and runs_locally(pipeline_args)
    runner, local = runner_of(pipeline_args)
    with (
        runner_failures(runner, local=local),
        progress(PROGRESS, count_records(run.inputs) if show else None, show),
    ):
        summary = run_graph_files(
            run.graph,
            inputs=run.inputs,
            sinks=sinks,
            failures_path=run.failures,
            failure_record=graph_failure_record,
            pipeline_args=pipeline_args,
        )
    print_summary(summary, [out.written for out in outputs], run.failures)
    return exit_status(summary.elements, summary.failed, summary.failed + summary.partial, args)
