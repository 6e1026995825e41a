"""``infergraph predict``: one model over a JSONL file, on Beam (the DirectRunner by default)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from ..plugins.manager import Plugins, get_plugin_manager


def add_parser(commands: Any) -> None:
    """Add the ``predict`` subcommand."""
    predict = commands.add_parser(
        "predict",
        help="run a model over a JSONL file on Beam (DirectRunner by default)",
        epilog="Arguments it does not know (--runner, --direct_num_workers, ...) go to Beam.",
    )
    predict.add_argument("--handler", required=True, help="a registered handler name")
    predict.add_argument("--model", help="the model path (sets the config field 'path')")
    predict.add_argument("--input", required=True, help="JSONL input, one object per line")
    predict.add_argument("--output", required=True, help="JSONL output of predictions")
    predict.add_argument(
        "--failures", help="JSONL output of failures (default: OUTPUT's name + .failures.jsonl)"
    )
    predict.add_argument("--key-field", help="the field of each object that holds its key")
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
        help="a handler config field (VALUE is JSON, or a string); repeatable",
    )
    predict.set_defaults(run=_predict)


def _predict(args: argparse.Namespace, pipeline_args: list[str]) -> int:
    plugins = get_plugin_manager()
    options = _options(args.set)
    if args.model is not None:
        options["path"] = args.model
    handler = _create(plugins, args.handler, options)
    if not Path(args.input).exists() and "://" not in args.input:
        raise ConfigError(f"input file {args.input!r} not found")
    failures = args.failures or _failures_path(args.output)

    from ..beam.jsonl import run_jsonl

    summary = run_jsonl(
        handler,
        input_path=args.input,
        output_path=args.output,
        failures_path=failures,
        key_field=args.key_field,
        pipeline_args=pipeline_args,
        predictions_sink=_sink(args.output_format),
    )
    print(
        f"{summary.predictions} predictions -> {summary.output}\n"
        f"{summary.failures} failures -> {summary.failures_output}"
    )
    return 0


def _sink(output_format: str) -> Any:
    if output_format == "jsonl":
        return None
    from ..handlers.tensorflow.tfx import prediction_log_sink

    return prediction_log_sink


def _create(plugins: Plugins, name: str, options: dict[str, Any]) -> Any:
    entry = plugins.get(name)
    if "path" in options and "path" not in entry.handler_cls.Config.model_fields:
        raise ConfigError(f"handler {name!r} takes no model path: drop --model")
    return plugins.create(name, **options)


def _options(pairs: Sequence[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set expects NAME=VALUE, got {pair!r}")
        try:
            options[name] = json.loads(raw)
        except json.JSONDecodeError:
            options[name] = raw
    return options


def _failures_path(output: str) -> str:
    stem = output[: -len(".jsonl")] if output.endswith(".jsonl") else output
    return stem + ".failures.jsonl"
