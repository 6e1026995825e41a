"""``infergraph predict``: one model over a file of records, on Beam (the DirectRunner by default).

It is a graph of one model node, run by the same code as ``infergraph run``: the same readers
(line numbers on every input failure), progress bar, summary and exit statuses.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, get_args

import numpy as np
from pydantic import TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from ..core.errors import ConfigError
from ..graph.block_state import BlockResult, row_of
from ..graph.graph import Graph
from ..graph.plan import input_reader
from ..graph.records import failure_record, to_jsonable
from ..graph.spec import InputSpec
from ..io.formats import INPUTS, ReadAs, described, failures_path, format_of
from ..io.paths import check_input
from ..plugins.manager import Plugins, get_plugin_manager
from .display import count_records, print_summary, progress
from .errors import runner_failures
from .pipeline import beam_args, check_paths, exit_status, own_options, runner_of, runs_locally


def add_parser(commands: Any) -> None:
    """Add the ``predict`` subcommand."""
    predict = commands.add_parser(
        "predict",
        help="run a model over a file of records on Beam (DirectRunner by default)",
        description="Run one model over JSONL, CSV or TFRecord records. Writes one prediction "
        "per record, failures to their own file, and prints a summary. Exit status: 0 when "
        "done, 1 when every input failed (or any did, with --fail-on-failures), 2 for a bad "
        "option, handler, config or model.",
        epilog="Arguments it does not know (--runner, --direct_num_workers, ...) go to Beam.",
    )
    predict.add_argument("--handler", required=True, help="a registered handler name")
    predict.add_argument(
        "--model", help="the model file or directory (the handler's config field 'path')"
    )
    predict.add_argument("--input", required=True, help="the input file, or a glob of files")
    predict.add_argument(
        "--input-format",
        choices=list(INPUTS),
        help=f"{described(INPUTS)}; default: from the extension, else jsonl",
    )
    predict.add_argument(
        "--read-as",
        choices=list(get_args(ReadAs)),
        default="auto",
        help="read records one by one (rows) or as columns of --block-rows records (blocks, "
        "no per-row work); auto: blocks for columnar formats, and for csv and tfrecord when the "
        "handler accepts blocks",
    )
    predict.add_argument(
        "--block-rows", type=int, default=10_000, help="records per block (default 10000)"
    )
    predict.add_argument("--output", required=True, help="where predictions go")
    predict.add_argument(
        "--failures", help="JSONL output of failures (default: OUTPUT's name + .failures.jsonl)"
    )
    predict.add_argument("--key-field", help="the field of each record that holds its key")
    predict.add_argument(
        "--input-field",
        help="pass this field's value to the model (default: the record's only field besides "
        "the key, or the whole record)",
    )
    predict.add_argument(
        "--example",
        choices=["serialized", "features"],
        default="serialized",
        help="tfrecord inputs: pass each record's serialized tf.Example (default; for "
        "signatures that parse examples) or its features, as a record of fields",
    )
    predict.add_argument(
        "--output-format",
        choices=["jsonl", "predictionlog"],
        default="jsonl",
        help="jsonl (default), or predictionlog: TFRecord files of tensorflow_serving "
        "PredictionLog protos, as tfx-bsl RunInference writes (OUTPUT is the file prefix)",
    )
    predict.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a handler config field, VALUE read as the field's type: JSON where that fits "
        "the field (8, true, [\"y\"]), else the text; repeatable",
    )
    predict.add_argument(
        "--fail-on-failures",
        action="store_true",
        help="exit with status 1 if any input failed",
    )
    predict.add_argument(
        "--no-progress", action="store_true", help="do not show the live progress bar"
    )
    predict.set_defaults(run=_predict, own_options=own_options(predict))


def _predict(args: argparse.Namespace, extra: list[str]) -> int:
    pipeline_args = beam_args(extra, args.own_options)
    plugins = get_plugin_manager()
    options = _options(args.set, plugins.get(args.handler).handler_cls.Config.model_fields)
    if args.model is not None:
        options["path"] = args.model
    handler = _create(plugins, args.handler, options)
    check_input(args.input)
    failures = args.failures or failures_path(args.output)
    check_paths([args.input], [args.output], failures, _reads(args.model))
    node = _node_name(args.handler)
    graph = Graph("predict", plugins=plugins)
    graph.model(node, handler)
    graph.chain(node)
    entry = InputSpec(
        format=_format(args),
        path=args.input,
        key_field=args.key_field,
        input_field=args.input_field,
        read_as=args.read_as,
        block_rows=args.block_rows,
        example=args.example,
    )
    source = input_reader(entry, graph)

    # Beam loads only for the commands that run a pipeline (not for --help or schema).
    from ..beam.files import JsonlSink, PredictionLogSink  # noqa: PLC0415 (Beam: lazy)
    from ..beam.run_files import PROGRESS, run_graph_files  # noqa: PLC0415 (Beam: lazy)

    sink: Any
    if args.output_format == "jsonl":
        sink = JsonlSink(args.output, _PredictRecord(node, args.key_field))
    else:
        sink = PredictionLogSink(args.output, [node])
    inputs = [(source, args.input)]
    show = not args.no_progress and runs_locally(pipeline_args)
    runner, local = runner_of(pipeline_args)
    with (
        runner_failures(runner, local=local),
        progress(PROGRESS, count_records(inputs) if show else None, show),
    ):
        summary = run_graph_files(
            graph,
            inputs=inputs,
            sinks=[sink],
            failures_path=failures,
            failure_record=_PredictFailure(node, handler.model_id, args.key_field),
            pipeline_args=pipeline_args,
        )
    print_summary(summary, [args.output], failures)
    return exit_status(summary.elements, summary.failed, summary.failed, args)


class _PredictRecord:
    """A prediction as ``{key_field: key, "output": ...}`` (``{"input": ...}`` unkeyed); a
    block's rows one such object each."""

    def __init__(self, node: str, key_field: str | None) -> None:
        self.node, self.key_field = node, key_field

    def __call__(self, result: Any) -> Iterator[dict[str, Any]]:
        if not isinstance(result, BlockResult):
            yield self._record(result.key, result.example, result.values[self.node])
            return
        column, valid = result.values.get(self.node), result.valid[self.node]
        for row in np.flatnonzero(valid).tolist():
            value = row_of(column, row)
            yield self._record(result.row_key(row), result.example.row(row), value)

    def _record(self, key: Any, example: Any, output: Any) -> dict[str, Any]:
        record: dict[str, Any] = {}
        if self.key_field is None:
            record["input"] = to_jsonable(example)
        else:
            record[self.key_field] = to_jsonable(key)
        record["output"] = to_jsonable(output, text=True)
        return record


class _PredictFailure:
    """A failure as the predict command writes it, naming the model by its id."""

    def __init__(self, node: str, model_id: str, key_field: str | None) -> None:
        self.node, self.model_id, self.key_field = node, model_id, key_field

    def __call__(self, failure: Any) -> dict[str, Any]:
        record = failure_record(failure, self.key_field)
        if record["node"] == self.node:
            record["node"] = self.model_id
        return record


def _reads(model: str | None) -> list[tuple[str, str]]:
    return [] if model is None else [(model, "the model")]


def _format(args: argparse.Namespace) -> Any:
    return args.input_format or format_of(args.input) or "jsonl"


def _node_name(handler: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_\-]", "_", handler)
    return name if re.match(r"^[A-Za-z_]", name) and name not in ("input", "key") else "model"


def _create(plugins: Plugins, name: str, options: dict[str, Any]) -> Any:
    entry = plugins.get(name)
    fields = entry.handler_cls.Config.model_fields
    if "path" in options and "path" not in fields:
        raise ConfigError(f"handler {name!r} takes no model path: drop --model")
    if "path" in fields and fields["path"].is_required() and "path" not in options:
        raise ConfigError(f"handler {name!r} needs a model: pass --model PATH")
    return plugins.create(name, **options)


def _options(pairs: Sequence[str], fields: Mapping[str, FieldInfo]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set expects NAME=VALUE, got {pair!r}")
        options[name] = _value(raw, fields.get(name))
    return options


def _value(raw: str, field: FieldInfo | None) -> Any:
    """``--set``'s VALUE as the field's type reads it: the JSON value where it fits the field
    (numbers, ``true``, lists, ``null``), else the text itself (``token=123456`` for a string)."""
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    if field is None or _fits(parsed, field) or not _fits(raw, field):
        return parsed  # a field that takes neither: the config names it, with its type
    return raw


def _fits(value: Any, field: FieldInfo) -> bool:
    annotation = Any if field.annotation is None else field.annotation
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        return False
    return True
