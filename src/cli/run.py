"""``infergraph run SPEC`` and ``infergraph schema``: run a graph spec on Beam; print its schema."""

from __future__ import annotations

import argparse
import inspect
import json
from collections.abc import Sequence
from typing import Any, cast

from ..core.errors import ConfigError, SpecError
from ..graph.graph import Graph
from ..graph.nodes import FunctionNode, ModelNode
from ..graph.records import RESERVED_FIELDS, GraphRecords, graph_failure_record
from ..graph.spec import InputSpec
from ..io.columnar import BlockSource, ColumnarFormat
from ..io.sources import Format, Source
from .display import count_records, print_summary, progress
from .errors import runner_failures
from .pipeline import (
    beam_args,
    check_input,
    check_paths,
    exit_status,
    failures_path,
    format_of,
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
    from ..graph.spec import GraphSpec

    print(json.dumps(GraphSpec.model_json_schema(), indent=2))
    return 0


def run_spec(args: argparse.Namespace, extra: list[str]) -> int:
    """Run the spec ``args.spec``; the exit status (see the subcommand's description)."""
    from ..graph.load import load_spec

    loaded = load_spec(args.spec)
    spec, graph = loaded.spec, loaded.graph
    inputs = _inputs(loaded, args.input)
    nodes = graph.output_names
    outputs = _outputs(loaded, args.output, nodes)
    failures = args.failures or (
        loaded.resolve(spec.failures) if spec.failures else failures_path(outputs[0][1])
    )
    check_paths(
        [path for _, path in inputs], [path for _, path, _ in outputs], failures, _reads(loaded)
    )
    pipeline_args = runner_args(spec.runner.name, spec.runner.options) + list(extra)
    if args.runner:
        pipeline_args.append(f"--runner={args.runner}")
    pipeline_args = beam_args(pipeline_args, args.own_options)

    from ..beam.files import JsonlSink, ParquetSink, PredictionLogSink
    from ..beam.run_files import PROGRESS, run_graph_files

    sinks: list[Any] = []
    order = [step.name for step in graph.validate()]
    for kind, path, chosen in outputs:
        if kind == "jsonl":
            sinks.append(JsonlSink(path, GraphRecords(chosen, order)))
        elif kind == "parquet":
            sinks.append(ParquetSink(path, chosen))
        else:
            sinks.append(PredictionLogSink(path, chosen))
    show = not args.no_progress and runs_locally(pipeline_args)
    runner, local = runner_of(pipeline_args)
    with (
        runner_failures(runner, local=local),
        progress(PROGRESS, count_records(inputs) if show else None, show),
    ):
        summary = run_graph_files(
            graph,
            inputs=inputs,
            sinks=sinks,
            failures_path=failures,
            failure_record=graph_failure_record,
            pipeline_args=pipeline_args,
        )
    print_summary(summary, [written_files(kind, path) for kind, path, _ in outputs], failures)
    return exit_status(summary.elements, summary.failed, summary.failed + summary.partial, args)


def written_files(kind: str, path: str) -> str:
    """The files an output of ``kind`` writes at ``path``: a glob where its sink names the parts
    (ParquetSink: ``<path>-<id>.parquet``; PredictionLogSink: Beam's ``-SSSSS-of-NNNNN``)."""
    if kind == "parquet":
        return f"{path}-*.parquet"
    if kind == "predictionlog":
        return f"{path}-*-of-*"
    return path


def reader(entry: InputSpec, graph: Graph) -> Source | BlockSource:
    """How to read an input: as rows, or as blocks (see the input's ``read_as``).

    Raises:
        ConfigError: blocks were asked of jsonl, or rows of a columnar-only format.
    """
    columnar_only = entry.format in ("parquet", "arrow", "numpy")
    if entry.read_as == "blocks" and entry.format == "jsonl":
        raise ConfigError("jsonl inputs are read as rows; use read_as: rows or auto")
    if entry.read_as == "rows" and columnar_only:
        raise ConfigError(f"{entry.format} inputs are read as blocks; use read_as: blocks or auto")
    blocks = entry.read_as == "blocks" or columnar_only
    if entry.read_as == "auto" and entry.format in ("csv", "tfrecord"):
        blocks = works_on_blocks(graph)
    if blocks:
        return BlockSource(
            cast(ColumnarFormat, entry.format),
            entry.key_field,
            entry.input_field,
            entry.block_rows,
            "serialized" if entry.example == "serialized" else "features",
        )
    kind = cast(Format, entry.format)
    return Source(kind, entry.key_field, entry.input_field, entry.example)


def works_on_blocks(graph: Graph) -> bool:
    """Whether every node of ``graph`` runs a block without per-row work."""
    for node in graph.nodes.values():
        if isinstance(node, ModelNode) and not node.handler.accepts_blocks:
            return False
        if isinstance(node, FunctionNode) and not node.columnar:
            return False
    return True


def _inputs(loaded: Any, override: str | None) -> list[tuple[Source | BlockSource, str]]:
    specs = loaded.spec.inputs
    if override is not None and len(specs) > 1:
        raise ConfigError(f"--input replaces the spec's one input, but it has {len(specs)}")
    if not specs:
        raise SpecError(f"{loaded.path}: the spec has no inputs; add one, or pass --input")
    found = []
    for index, entry in enumerate(specs):
        if override is not None and format_of(override) not in (None, entry.format):
            # --input other.csv for a spec that reads jsonl: read it as its extension says
            entry = entry.model_copy(update={"format": format_of(override)})  # noqa: PLW2901
        try:
            source = reader(entry, loaded.graph)
        except ConfigError as exc:
            raise loaded.error(("inputs", index, "read_as"), str(exc)) from exc
        path = override if override is not None else loaded.resolve(entry.path)
        _check_input(loaded, index, path, from_spec=override is None)
        loaded.check_input_files(index, entry, path)
        found.append((source, path))
    return found


def _reads(loaded: Any) -> list[tuple[str, str]]:
    """The files the run reads besides its inputs (outputs may not overwrite them): the spec,
    each model's path, the module of each function node."""
    reads = [(str(loaded.path), "the spec")]
    for node in loaded.graph.nodes.values():
        if isinstance(node, ModelNode):
            path = getattr(node.handler.config, "path", None)
            if isinstance(path, str):
                reads.append((path, f"the model of {node.handler.model_id!r}"))
        elif isinstance(node, FunctionNode) and node.fn is not None:
            module = _source_file(node.fn)
            if module is not None:
                reads.append((module, f"the module of function {node.ref!r}"))
    return reads


def _source_file(fn: Any) -> str | None:
    try:
        return inspect.getsourcefile(fn)
    except TypeError:  # a builtin (a numpy ufunc, say): no file of the user's
        return None


def _check_input(loaded: Any, index: int, path: str, *, from_spec: bool) -> None:
    """:func:`check_input`, its error at the spec's line when the path is the spec's."""
    try:
        check_input(path)
    except ConfigError as exc:
        if not from_spec:
            raise
        raise loaded.error(("inputs", index, "path"), str(exc)) from exc


def _outputs(
    loaded: Any, override: str | None, nodes: Sequence[str]
) -> list[tuple[str, str, list[str]]]:
    specs = loaded.spec.outputs
    if override is not None and len(specs) > 1:
        raise ConfigError(f"--output replaces the spec's one output, but it has {len(specs)}")
    if not specs:
        if override is None:
            raise SpecError(f"{loaded.path}: the spec has no outputs; add one, or pass --output")
        return [("jsonl", override, list(nodes))]
    found = []
    for index, entry in enumerate(specs):
        chosen = list(entry.nodes or nodes)
        clash = sorted(RESERVED_FIELDS & set(chosen))
        if clash and entry.format == "jsonl":
            raise loaded.error(
                ("outputs", index),
                f"output nodes {clash} clash with the fields of a result record "
                f"({', '.join(sorted(RESERVED_FIELDS))}); rename them",
            )
        path = override if override is not None else loaded.resolve(entry.path)
        found.append((entry.format, path, chosen))
    return found
