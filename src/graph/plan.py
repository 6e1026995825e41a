"""What a spec asks to run: its graph, each input's reader, each output, the failures file.

:func:`plan` turns a loaded spec (and the command line's overrides) into a :class:`Plan`; the
command line executes the plan without reading the spec itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError, SpecError
from ..io.columnar import BlockSource
from ..io.formats import INPUTS, OUTPUTS, failures_path, format_of, reader
from ..io.paths import check_input
from ..io.sources import Source
from .graph import Graph
from .load import LoadedSpec
from .nodes import FunctionNode, ModelNode
from .records import RESERVED_FIELDS
from .spec import InputSpec, RunnerSpec


@dataclass(frozen=True)
class Output:
    """One output: its format, where it goes, and the output nodes it holds."""

    format: str
    path: str
    nodes: list[str]

    @property
    def written(self) -> str:
        """The file, or glob of part files, the output leaves."""
        return OUTPUTS[self.format].written(self.path)


@dataclass(frozen=True)
class Plan:
    """A spec's run, decided.

    Attributes:
        graph: The graph, validated.
        inputs: Each input's reader (rows or blocks) and the path or glob it reads.
        outputs: Where results go.
        failures: The JSON lines file of failed elements.
        reads: Files the run reads besides its inputs, with what each is (outputs may not
            overwrite them).
        runner: The spec's Beam runner and its options.
    """

    graph: Graph
    inputs: list[tuple[Source | BlockSource, str]]
    outputs: list[Output]
    failures: str
    reads: list[tuple[str, str]]
    runner: RunnerSpec


def plan(
    loaded: LoadedSpec,
    *,
    input_path: str | None = None,
    output_path: str | None = None,
    failures_file: str | None = None,
) -> Plan:
    """The run ``loaded`` describes, with the spec's one input, its one output or its failures
    file replaced where given.

    Raises:
        ConfigError: an override does not fit the spec, or an input file is missing.
        SpecError: the spec has no inputs or outputs to run, or an input cannot be read as
            asked (at the spec's line).
    """
    inputs = _inputs(loaded, input_path)
    outputs = _outputs(loaded, output_path, loaded.graph.output_names)
    spec = loaded.spec
    default = loaded.resolve(spec.failures) if spec.failures else failures_path(outputs[0].path)
    return Plan(
        graph=loaded.graph,
        inputs=inputs,
        outputs=outputs,
        failures=failures_file or default,
        reads=_reads(loaded),
        runner=spec.runner,
    )


def input_reader(entry: InputSpec, graph: Graph) -> Source | BlockSource:
    """How to read an input: as rows, or as blocks (see the input's ``read_as``).

    Raises:
        ConfigError: blocks were asked of a format read as rows, or rows of one read as blocks.
    """
    blocks = INPUTS[entry.format].reads_blocks(entry.read_as, works_on_blocks(graph))
    return reader(
        entry.format,
        blocks=blocks,
        key_field=entry.key_field,
        input_field=entry.input_field,
        block_rows=entry.block_rows,
        example=entry.example,
    )


def works_on_blocks(graph: Graph) -> bool:
    """Whether every node of ``graph`` runs a block without per-row work."""
    for node in graph.nodes.values():
        if isinstance(node, ModelNode) and not node.handler.accepts_blocks:
            return False
        if isinstance(node, FunctionNode) and not node.columnar:
            return False
    return True


def _inputs(loaded: LoadedSpec, override: str | None) -> list[tuple[Source | BlockSource, str]]:
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
            source = input_reader(entry, loaded.graph)
        except ConfigError as exc:
            raise loaded.error(("inputs", index, "read_as"), str(exc)) from exc
        path = override if override is not None else loaded.resolve(entry.path)
        _check_input(loaded, index, path, from_spec=override is None)
        loaded.check_input_files(index, entry, path)
        found.append((source, path))
    return found


def _reads(loaded: LoadedSpec) -> list[tuple[str, str]]:
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


def _check_input(loaded: LoadedSpec, index: int, path: str, *, from_spec: bool) -> None:
    """:func:`check_input`, its error at the spec's line when the path is the spec's."""
    try:
        check_input(path)
    except ConfigError as exc:
        if not from_spec:
            raise
        raise loaded.error(("inputs", index, "path"), str(exc)) from exc


def _outputs(loaded: LoadedSpec, override: str | None, nodes: Sequence[str]) -> list[Output]:
    specs = loaded.spec.outputs
    if override is not None and len(specs) > 1:
        raise ConfigError(f"--output replaces the spec's one output, but it has {len(specs)}")
    if not specs:
        if override is None:
            raise SpecError(f"{loaded.path}: the spec has no outputs; add one, or pass --output")
        return [Output("jsonl", override, list(nodes))]
    found = []
    for index, entry in enumerate(specs):
        chosen = list(entry.nodes or nodes)
        clash = sorted(RESERVED_FIELDS & set(chosen))
        if clash and OUTPUTS[entry.format].record_fields:
            raise loaded.error(
                ("outputs", index),
                f"output nodes {clash} clash with the fields of a result record "
                f"({', '.join(sorted(RESERVED_FIELDS))}); rename them",
            )
        path = override if override is not None else loaded.resolve(entry.path)
        found.append(Output(entry.format, path, chosen))
    return found
