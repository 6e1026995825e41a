"""The graph spec: a YAML or JSON file that describes a graph, its inputs, outputs and runner.

``infergraph schema`` prints its JSON schema. Example (``examples/times_table/specs``)::

    name: times_table
    imports: [adapters]                   # modules function nodes may come from
    models:
      five: {handler: tensorflow, path: work/models/times_5}
      ten: {handler: onnx, path: work/models/times_10.onnx}
    nodes:
      - {name: five, model: five}                          # input: the graph's input
      - {name: to_x, function: "adapters:to_x", input: five}
      - {name: ten, model: ten, input: to_x}
    inputs:
      - {format: tfrecord, path: work/data/inputs.tfrecord, key_field: key}
    outputs:
      - {format: jsonl, path: out/results.jsonl}
    runner: {name: DirectRunner}

Relative paths (model ``path`` fields, inputs, outputs) are relative to the spec file.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..io.formats import (
    INPUTS,
    OUTPUTS,
    Example,
    InputFormatName,
    OutputFormatName,
    ReadAs,
    described,
)
from .conditions import Condition

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(BaseModel):
    """A handler and its config: ``handler`` plus the handler's own config fields."""

    model_config = ConfigDict(extra="allow", frozen=True)

    handler: str = Field(description="A registered handler name (`infergraph handlers`).")

    @property
    def options(self) -> dict[str, Any]:
        """The handler's config fields."""
        return dict(self.model_extra or {})


class CaseSpec(_Strict):
    """One case of a route: where elements go when the condition holds."""

    when: Condition = Field(
        description="A condition: {field, op, value}, or {and: [...]}, {or: [...]}, {not: ...}."
    )
    to: str = Field(description="The node elements matching the condition go to.")


class RouteSpec(_Strict):
    """A route: the first case whose condition holds decides the target."""

    cases: list[CaseSpec] = Field(default_factory=list, description="Cases, tried in order.")
    default: str | None = Field(
        default=None,
        description="Where elements no case matches go; without one they are recorded as skipped.",
    )


class NodeSpec(_Strict):
    """A node: exactly one of ``model``, ``function``, ``route``, ``split`` or ``merge``."""

    name: str = Field(pattern=NAME_PATTERN, description="The node's name (unique).")
    model: str | None = Field(default=None, description="Run this entry of `models`.")
    function: str | None = Field(
        default=None,
        description="Call this function, written 'module:function'; the module must be listed "
        "in `imports`.",
    )
    route: RouteSpec | None = Field(default=None, description="Route elements by conditions.")
    split: dict[str, float] | None = Field(
        default=None,
        description="Split elements by a stable hash of their key: target node -> weight.",
    )
    merge: list[str] | None = Field(
        default=None, description="The value of the first of these nodes that has one."
    )
    input: str | None = Field(
        default=None,
        description="The node this one takes its input from; 'input' (the graph's input) by "
        "default. Targets of a route or split take theirs from it.",
    )
    inputs: list[str] | None = Field(
        default=None,
        description="Function nodes: several inputs (node names, 'input' or 'key'), passed as "
        "positional arguments in this order.",
    )
    input_field: str | None = Field(
        default=None,
        description="Model nodes: with a record (dict) as input, pass this field's value.",
    )
    columnar: bool = Field(
        default=False,
        description="Function nodes: the function takes and returns whole columns (numpy "
        "arrays, one row per element), so blocks run through it without per-row work.",
    )
    salt: str | None = Field(
        default=None, description="Split nodes: changes the key -> arm assignment."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> NodeSpec:
        kinds = [k for k in ("model", "function", "route", "split", "merge") if getattr(self, k)]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"a node needs exactly one of model, function, route, split or merge; found {found}"
            )
        if self.inputs is not None and self.function is None:
            raise ValueError("only function nodes take `inputs`; use `input`")
        if self.inputs is not None and self.input is not None:
            raise ValueError("give `input` or `inputs`, not both")
        if self.input_field is not None and self.model is None:
            raise ValueError("only model nodes take `input_field`")
        if self.salt is not None and self.split is None:
            raise ValueError("only split nodes take `salt`")
        if self.columnar and self.function is None:
            raise ValueError("only function nodes take `columnar`")
        return self

    @property
    def kind(self) -> str:
        """model, function, route, split or merge."""
        return next(k for k in ("model", "function", "route", "split", "merge") if getattr(self, k))


class InputSpec(_Strict):
    """Where the graph's input elements come from."""

    format: InputFormatName = Field(description=described(INPUTS) + ".")
    path: str = Field(description="A file, or a glob of files; relative to the spec file.")
    key_field: str | None = Field(
        default=None, description="The field (or tf.Example feature) holding each key."
    )
    input_field: str | None = Field(
        default=None,
        description="Pass this field's value as the example instead of the record's remaining "
        "fields.",
    )
    example: Example = Field(
        default="serialized",
        description="tfrecord: pass each record's serialized tf.Example (for signatures that "
        "parse examples), or its features as a dict of values.",
    )
    fields: list[str] | None = Field(
        default=None,
        description="The fields records have (checked against route conditions on input.*).",
    )
    read_as: ReadAs = Field(
        default="auto",
        description="rows (one element per record) or blocks (columns of block_rows records, "
        "no per-row work); auto: blocks for parquet, arrow and numpy, and for csv and tfrecord "
        "when every node works on blocks (handlers that accept them, columnar functions).",
    )
    block_rows: int = Field(default=10_000, ge=1, description="The most records in one block.")


class OutputSpec(_Strict):
    """Where results go."""

    format: OutputFormatName = Field(default="jsonl", description=described(OUTPUTS) + ".")
    path: str = Field(
        description="The output file (parquet and predictionlog: the file prefix of its parts)."
    )
    nodes: list[str] | None = Field(
        default=None, description="Output nodes to write; all of the graph's outputs by default."
    )


class RunnerSpec(_Strict):
    """The Beam runner and its pipeline options."""

    name: str = Field(default="DirectRunner", description="A Beam runner name.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Beam pipeline options, e.g. {direct_num_workers: 2} or Dataflow's project, "
        "region, temp_location.",
    )


class ServingSpec(_Strict):
    """How ``infergraph serve`` serves the graph: batching across requests and limits."""

    max_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="The most rows of concurrent requests run through the graph at once; by "
        "default the largest max_batch_size of its models.",
    )
    max_queue_delay_ms: float = Field(
        default=0.0,
        ge=0,
        description="How long the first request of a batch may wait for others while the batch "
        "cannot fill; 0 runs what is queued as soon as the model is free.",
    )
    max_queue_rows: int = Field(
        default=8192, ge=1, description="Rows waiting at most; beyond, requests get 503."
    )
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1, description="The largest request body (else 413)."
    )
    max_elements: int = Field(
        default=4_000_000, ge=1, description="The most tensor elements in one request."
    )
    max_json_depth: int = Field(
        default=32, ge=2, description="The deepest nesting of a JSON request body."
    )
    timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="A request's deadline unless it sets one (else 504, its rows freed).",
    )
    reload_poll_s: float | None = Field(
        default=2.0,
        gt=0,
        description="How often model files are checked for a new version (None: never).",
    )


class WatchSpec(_Strict):
    """Model files to follow while the graph runs: the newest file each pattern matches."""

    patterns: dict[str, str] = Field(
        description="Model node -> glob pattern of its model files (relative to the spec)."
    )
    interval_s: float = Field(
        default=5.0, gt=0, allow_inf_nan=False, description="Seconds between two looks."
    )


class GraphSpec(_Strict):
    """A graph, its inputs, outputs and runner."""

    version: Literal[1] = Field(default=1, description="The spec format version.")
    name: str = Field(default="graph", pattern=NAME_PATTERN, description="The graph's name.")
    imports: list[str] = Field(
        default_factory=list,
        description="Modules function nodes may come from (an allow-list; the spec's directory "
        "is searched first).",
    )
    models: dict[str, ModelSpec] = Field(
        default_factory=dict, description="Handlers and their configs, by name."
    )
    nodes: list[NodeSpec] = Field(min_length=1, description="The graph's nodes.")
    inputs: list[InputSpec] = Field(default_factory=list, description="Input sources.")
    outputs: list[OutputSpec] = Field(default_factory=list, description="Output sinks.")
    failures: str | None = Field(
        default=None,
        description="Where failures go (JSONL); by default next to the first output, with "
        ".failures.jsonl.",
    )
    runner: RunnerSpec = Field(default_factory=RunnerSpec, description="The Beam runner.")
    serving: ServingSpec = Field(
        default_factory=ServingSpec, description="How `infergraph serve` serves the graph."
    )
    watch: WatchSpec | None = Field(
        default=None,
        description="Follow new model files while the graph runs (in-process runs and "
        "streaming pipelines): each new model loads in the background and is swapped in "
        "between two batches.",
    )

    @field_validator("imports")
    @classmethod
    def _module_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not all(part.isidentifier() for part in name.split(".")):
                raise ValueError(f"{name!r} is not a module name")
        return value
