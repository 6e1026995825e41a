"""Reading a spec file into a :class:`Graph`, with errors that name the file, line and field."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from ..core.errors import ConfigError, GraphError, HandlerNotFoundError, SpecError
from ..io.formats import fields_of
from ..io.paths import local_inputs
from ..plugins.manager import HandlerRegistry, get_plugin_manager
from .compose import MAX_SPEC_BYTES, compose, construct, not_yaml
from .conditions import CONDITION_FORMS
from .graph import Graph
from .nodes import (
    FunctionNode,
    MergeNode,
    ModelNode,
    Node,
    RouteNode,
    SplitNode,
    import_function,
)
from .spec import GraphSpec, InputSpec, ModelSpec, NodeSpec
from .state import INPUT
from .validate import compile_steps, suggest

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedSpec:
    """A spec file read and checked, with the graph it describes.

    Attributes:
        path: The spec file.
        spec: Its validated content.
        graph: The graph, validated.
        lines: The line of each field of the file (for :meth:`error`).
    """

    path: Path
    spec: GraphSpec
    graph: Graph
    lines: Mapping[Loc, int] = field(default_factory=dict)

    def resolve(self, path: str) -> str:
        """A path from the spec, relative to the spec file unless absolute or a URL."""
        return resolve_path(path, self.path.parent)

    def error(self, loc: Loc, message: str) -> SpecError:
        """An error about the field at ``loc``, as ``file:line: field: message``."""
        return SpecError(f"{self.path}:{line_of(self.lines, loc)}: {dotted(loc)}: {message}")

    def check_input_files(self, index: int, entry: InputSpec, pattern: str) -> None:
        """Check what input ``index`` (``entry``, reading ``pattern``) is asked to read against
        the fields its files state ahead (a CSV header, a Parquet or Arrow schema, the arrays of
        an npz): its ``key_field``, its ``input_field``, and route conditions on ``input.*``.

        Raises:
            SpecError: a field the files do not have, naming the spec's line and their fields.
        """
        for file in local_inputs(pattern)[:_FILES_CHECKED]:
            fields = fields_of(entry.format, file)
            if fields is not None:
                self._check_fields(("inputs", index), entry, file, fields)

    def _check_fields(self, loc: Loc, entry: InputSpec, file: str, fields: list[str]) -> None:
        for name in ("key_field", "input_field"):
            wanted = getattr(entry, name)
            if wanted is not None and wanted not in fields:
                raise self.error(
                    (*loc, name),
                    f"{file!r} has no field {wanted!r}; its fields are {fields}"
                    f"{suggest(wanted, fields)}",
                )
        if entry.input_field is not None:
            return  # conditions read inside that field's values, which no header states
        graph = self.graph
        try:
            compile_steps(
                graph.nodes, graph.output_names, [f for f in fields if f != entry.key_field]
            )
        except GraphError as exc:
            where: Loc = ("nodes", self._position(exc.node)) if exc.node else loc
            raise self.error(where, f"{exc} (the fields of {file!r})") from None

    def _position(self, node: str) -> int:
        return next(i for i, entry in enumerate(self.spec.nodes) if entry.name == node)


_FILES_CHECKED = 100
"""The most files of an input glob whose fields are checked before a run (reading a header
each costs a file open; the reader checks every record anyway)."""


def load_graph(path: str | Path, *, plugins: HandlerRegistry | None = None) -> Graph:
    """Read a YAML or JSON graph spec and return its graph, checked.

    Raises:
        SpecError: the file cannot be read or is invalid; the message starts with
            ``file:line:`` and names the field (with a "did you mean" for misspelled names).
    """
    return load_spec(path, plugins=plugins).graph


def load_spec(path: str | Path, *, plugins: HandlerRegistry | None = None) -> LoadedSpec:
    """Read a spec file: its content and its graph (see :func:`load_graph`)."""
    file = Path(path)
    try:
        with file.open("rb") as stream:
            raw = stream.read(MAX_SPEC_BYTES + 1)  # a bigger file is refused by parse
        # (where the read cut a character in two, "replace" keeps the size error first)
        text = raw.decode("utf-8", "replace" if len(raw) > MAX_SPEC_BYTES else "strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{file}: cannot read the spec: {exc}") from exc
    data, lines = parse(text, str(file))
    try:
        spec = GraphSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_first_problem(exc, str(file), lines)) from None
    return LoadedSpec(file, spec, build(spec, file, lines, plugins), lines)


def parse(text: str, name: str) -> tuple[Any, dict[Loc, int]]:
    """YAML (or JSON) text as data, and the line of every mapping key and list item.

    One parse: the node tree keeps the positions, and the data is constructed from it.

    Raises:
        SpecError: the text is not YAML, not a mapping, has a key twice, or passes a bound
            (see :mod:`.compose`); the message starts with ``name:line:``.
    """
    lines: dict[Loc, int] = {}
    try:
        root = compose(text, name)
        if root is not None:
            _walk(root, (), lines, name)
        data = construct(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise not_yaml(name, text, exc) from None
    if not isinstance(data, dict):
        raise SpecError(f"{name}:1: a spec is a mapping with nodes, models, inputs, outputs")
    return data, lines


def _walk(node: Any, loc: Loc, lines: dict[Loc, int], name: str) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise SpecError(
                    f"{name}:{key.start_mark.line + 1}: {dotted(loc) or '(spec)'}: a key must "
                    "be a name, not a list or a mapping"
                )
            line = key.start_mark.line + 1
            if key.value in first and key.value != "<<":
                # YAML (and JSON) parsers keep the last value silently: refuse the ambiguity.
                raise SpecError(
                    f"{name}:{line}: {dotted((*loc, key.value))}: duplicate key {key.value!r} "
                    f"(first on line {first[key.value]}); a key may appear once: remove one"
                )
            first[key.value] = line
            lines[(*loc, key.value)] = line
            _walk(value, (*loc, key.value), lines, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines, name)


def line_of(lines: Mapping[Loc, int], loc: Loc) -> int:
    """The line of ``loc``, or of its nearest parent that has one."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return 1


def dotted(loc: Loc) -> str:
    """``("nodes", 2, "model")`` as ``nodes[2].model``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def resolve_path(path: str, base: Path) -> str:
    """``path`` relative to ``base`` unless it is absolute or a URL (``gs://...``)."""
    if "://" in path or Path(path).is_absolute():
        return path
    return str(base / path)


# -- pydantic errors ----------------------------------------------------------------------------

_CONDITION_KINDS = {"Compare", "All", "AnyOf", "Not"}


def _first_problem(exc: ValidationError, name: str, lines: Mapping[Loc, int]) -> str:
    errors = exc.errors()
    error = errors[0]
    loc: Loc = tuple(error["loc"])
    condition = next((i for i, part in enumerate(loc) if _condition_kind(part)), None)
    if condition is not None:
        loc = loc[:condition]
        problem = f"not a valid condition: write {CONDITION_FORMS}"
        if error["type"] == "value_error":  # an unknown op, or a value that does not fit it
            problem = error["msg"].removeprefix("Value error, ")
    elif error["type"] == "extra_forbidden":
        problem = "unknown field" + _did_you_mean(str(loc[-1]), _fields_at(loc[:-1]))
    elif error["type"] == "literal_error" and loc:
        problem = _unknown_choice(loc, error["input"])
    else:
        problem = error["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 and not _union(loc) else ""
    return f"{name}:{line_of(lines, loc)}: {dotted(loc) or '(spec)'}: {problem}{more}"


def _condition_kind(part: str | int) -> bool:
    """Whether a pydantic location part is a condition class (``Compare``, or
    ``function-after[_value_fits_op(), Compare]`` for one its validator refused)."""
    return isinstance(part, str) and (part in _CONDITION_KINDS or part.endswith(", Compare]"))


def _union(loc: Loc) -> bool:
    return bool(loc) and "when" in loc


def _fields_at(loc: Loc) -> list[str]:
    """The field names the spec allows at ``loc`` (for suggestions)."""
    model = _model_at(loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _model_at(loc: Loc) -> Any:
    """The spec's model (or type) at ``loc``; ``None`` where it has no such field."""
    model: Any = GraphSpec
    for part in loc:
        if isinstance(part, int) or not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _inner(field.annotation)
    return model


def _unknown_choice(loc: Loc, value: Any) -> str:
    """``unknown format 'jsnl'; did you mean 'jsonl'? (one of: ...)`` for a field that takes
    one of fixed values."""
    model = _model_at(loc[:-1])
    is_model = isinstance(model, type) and issubclass(model, BaseModel)
    field = model.model_fields.get(str(loc[-1])) if is_model else None
    choices = [str(c) for c in get_args(field.annotation)] if field is not None else []
    hint = difflib.get_close_matches(str(value), choices, n=1)
    maybe = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown {loc[-1]} {value!r}{maybe} (one of: {', '.join(choices)})"


def _inner(annotation: Any) -> Any:
    while get_origin(annotation) is not None:
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[-1] if args else annotation
        if not get_args(annotation):
            break
    return annotation


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    hint = difflib.get_close_matches(name, list(choices), n=1)
    if hint:
        return f"; did you mean {hint[0]!r}?"
    return f"; valid fields: {', '.join(choices)}" if choices else ""


# -- building the graph -------------------------------------------------------------------------


def build(
    spec: GraphSpec, file: Path, lines: Mapping[Loc, int], plugins: HandlerRegistry | None
) -> Graph:
    """The graph a validated spec describes, checked; errors located in ``file``."""

    def fail(loc: Loc, message: str) -> SpecError:
        return SpecError(f"{file}:{line_of(lines, loc)}: {dotted(loc)}: {message}")

    base = file.parent
    registry = get_plugin_manager() if plugins is None else plugins
    handlers = {
        name: _handler(name, entry, spec, base, plugins=registry, fail=fail)
        for name, entry in spec.models.items()
    }
    sources = _targets(spec, fail)
    nodes: dict[str, Node] = {}
    positions: dict[str, int] = {}
    for index, entry in enumerate(spec.nodes):
        loc: Loc = ("nodes", index)
        if entry.name in nodes:
            raise fail((*loc, "name"), f"there is already a node named {entry.name!r}")
        try:
            nodes[entry.name] = _NodeMaker(spec, handlers, sources, base, fail).make(entry, loc)
        except SpecError:
            raise
        except (ConfigError, HandlerNotFoundError) as exc:
            raise fail(loc, str(exc)) from exc
        positions[entry.name] = index
    # After the nodes: a node's misspelled model is the error to report, not the model it missed.
    used = {node.model for node in spec.nodes if node.model}
    for name in spec.models:
        if name not in used:
            raise fail(("models", name), f"model {name!r} is not used by any node; remove it")
    outputs = [name for out in spec.outputs for name in (out.nodes or [])]
    graph = Graph.from_nodes(
        nodes.values(),
        name=spec.name,
        plugins=registry,
        input_fields=spec.inputs[0].fields if len(spec.inputs) == 1 else None,
    )
    if outputs:
        for index, out in enumerate(spec.outputs):
            for name in out.nodes or []:
                if name not in nodes:
                    known = list(nodes)
                    raise fail(
                        ("outputs", index, "nodes"),
                        f"{name!r} is not a node{_did_you_mean(name, known)}",
                    )
        graph.outputs(*dict.fromkeys(outputs))
    try:
        graph.validate()
    except GraphError as exc:
        where: Loc = ("nodes", positions[exc.node]) if exc.node in positions else ("nodes",)
        raise fail(where, str(exc)) from exc
    _check_model_paths(spec, base, fail)
    _watch(graph, spec, base, fail)
    return graph


def _watch(graph: Graph, spec: GraphSpec, base: Path, fail: Any) -> None:
    """The spec's watch, on ``graph``; patterns are relative to the spec."""
    if spec.watch is None:
        return
    patterns = {node: resolve_path(p, base) for node, p in spec.watch.patterns.items()}
    try:
        graph.watch(patterns, interval_s=spec.watch.interval_s)
    except GraphError as exc:
        raise fail(("watch", "patterns", exc.node or ""), str(exc)) from exc


def _check_model_paths(spec: GraphSpec, base: Path, fail: Any) -> None:
    """Refuse a local model path that names nothing (URLs are not checked: no network here),
    at its line, before a worker fails to load it."""
    for name, entry in spec.models.items():
        path = entry.options.get("path")
        if isinstance(path, str) and "://" not in path and "{input." not in path:  # a template
            resolved = resolve_path(path, base)
            if not os.path.exists(resolved):
                raise fail(
                    ("models", name, "path"),
                    f"model {name!r}: {resolved!r} not found (no such file or directory); a "
                    "relative path is relative to the spec file's directory",
                )


def _check_factory(name: str, entry: ModelSpec, imports: Sequence[str], fail: Any) -> None:
    """A model's ``factory`` (code a handler calls, as the ``beam`` handler does) obeys the
    spec's ``imports`` allow-list as function nodes do."""
    factory = entry.options.get("factory")
    if not isinstance(factory, str):
        return
    try:
        import_function(factory, None, f"model {name!r}: factory", allowed=imports)
    except ConfigError as exc:
        raise fail(("models", name, "factory"), str(exc)) from exc


def _handler(
    name: str, entry: ModelSpec, spec: GraphSpec, base: Path, *, plugins: HandlerRegistry, fail: Any
) -> Any:
    _check_factory(name, entry, spec.imports, fail)
    options = entry.options
    if isinstance(options.get("path"), str):
        options["path"] = resolve_path(options["path"], base)
    options.setdefault("model_id", name)
    try:
        return plugins.create(entry.handler, **options)
    except HandlerNotFoundError as exc:
        raise fail(("models", name, "handler"), str(exc)) from exc
    except ConfigError as exc:
        cause = exc.__cause__
        field: Loc = ("models", name)
        if isinstance(cause, ValidationError) and cause.errors():
            field = (*field, *cause.errors()[0]["loc"][:1])
        raise fail(field, str(exc)) from exc


def _targets(spec: GraphSpec, fail: Any) -> dict[str, str]:
    """Target node -> the route or split that sends to it."""
    sources: dict[str, str] = {}
    for index, entry in enumerate(spec.nodes):
        targets: list[str] = []
        if entry.route is not None:
            targets = [case.to for case in entry.route.cases]
            targets += [entry.route.default] if entry.route.default else []
        elif entry.split is not None:
            targets = list(entry.split)
        for target in dict.fromkeys(targets):
            if target in sources and sources[target] != entry.name:
                raise fail(
                    ("nodes", index),
                    f"{target!r} is already a target of {sources[target]!r}; a node takes its "
                    "input from one route or split (join arms with a merge node)",
                )
            sources[target] = entry.name
    return sources


@dataclass(frozen=True)
class _NodeMaker:
    spec: GraphSpec
    handlers: Mapping[str, Any]
    sources: Mapping[str, str]
    base: Path
    fail: Any

    def make(self, entry: NodeSpec, loc: Loc) -> Node:
        """The node ``entry`` describes (at ``loc`` in the file)."""
        name = entry.name
        routed_from = self.sources.get(name)
        if routed_from is not None and entry.input not in (None, routed_from):
            raise self.fail(
                (*loc, "input"),
                f"node {name!r} is a target of {routed_from!r}, so it takes its input from it; "
                f"remove `input: {entry.input}`",
            )
        source = entry.input or routed_from or INPUT
        if entry.model is not None:
            if entry.model not in self.handlers:
                raise self.fail(
                    (*loc, "model"),
                    f"no model named {entry.model!r} in `models`"
                    f"{_did_you_mean(entry.model, list(self.handlers))}",
                )
            return ModelNode(name, self.handlers[entry.model], source, entry.input_field)
        if entry.function is not None:
            inputs = entry.inputs if entry.inputs is not None else [source]
            try:
                return FunctionNode.of(
                    name,
                    entry.function,
                    inputs,
                    search_path=str(self.base.resolve()),
                    columnar=entry.columnar,
                    allowed=self.spec.imports,
                )
            except ConfigError as exc:
                raise self.fail((*loc, "function"), str(exc)) from exc
        if entry.route is not None:
            cases = tuple((case.when, case.to) for case in entry.route.cases)
            return RouteNode(name, cases, entry.route.default, source)
        if entry.split is not None:
            return SplitNode(name, tuple(entry.split.items()), entry.salt or "", source)
        assert entry.merge is not None
        return MergeNode(name, tuple(entry.merge))
