"""A spec's YAML (or JSON) text as one node tree, in one parse, with bounds a hostile file cannot
pass: its size, its depth, and the number of values its aliases expand to ("billion laughs").

PyYAML's own composer recurses once per level (a spec nested 1000 deep is a ``RecursionError``)
and shares aliased nodes, so any walk of its tree expands every alias. This composer builds the
same tree from the parser's events with a stack, counts each alias as the values it stands for,
registers an anchor only once its node is complete (so an alias cannot make a cycle), and stops
at the first bound passed. Every node keeps its ``start_mark`` (the line errors name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.error import Mark
from yaml.parser import ParserError
from yaml.scanner import ScannerError

from ..core.errors import SpecError

MAX_SPEC_BYTES = 1 << 20
"""The largest spec file read (1 MiB): hand-written and generated specs are far smaller."""

MAX_DEPTH = 64
"""The deepest nesting of lists and mappings (a spec's own structure is about 10 deep)."""

MAX_VALUES = 200_000
"""The most values a spec may hold, each alias counted as the values it stands for."""

_TOO_DEEP = (
    f"lists and mappings nested more than {MAX_DEPTH} deep; a spec is nested far less: is this "
    "the right file?"
)

# libyaml's parser when PyYAML was built with it (about 15 times faster), else PyYAML's own.
_PARSER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
# Plain scalars' types (int, bool, null...) as PyYAML's safe loader resolves them.
_resolve = cast(
    "Callable[[type[yaml.Node], str | None, tuple[bool, bool] | bool], str]",
    yaml.SafeLoader("").resolve,
)


@dataclass
class _Open:
    """A sequence or mapping whose end the parser has not reached yet."""

    node: yaml.SequenceNode | yaml.MappingNode
    anchor: str | None
    values: int = 1
    key: yaml.Node | None = field(default=None)


def compose(text: str, name: str) -> yaml.Node | None:
    """The node tree of ``text`` (``None`` for an empty document).

    Raises:
        SpecError: the text passes a bound (size, depth, values).
        yaml.YAMLError: the text is not YAML (with PyYAML's own message, see :func:`not_yaml`).
    """
    if len(text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise SpecError(
            f"{name}: the spec is over {MAX_SPEC_BYTES} bytes (1 MiB), the most a spec may be: "
            "is this the right file?"
        )
    return _Composer(name).run(text)


def _problem(text: str, exc: yaml.YAMLError) -> yaml.YAMLError:
    """The error PyYAML's own parser reports for ``text`` (its messages name the character at
    fault, libyaml's do not), or ``exc`` when that parser finds none."""
    if _PARSER is yaml.SafeLoader or not isinstance(exc, ScannerError | ParserError):
        return exc
    try:
        for _ in yaml.parse(text, Loader=yaml.SafeLoader):
            pass
    except yaml.YAMLError as own:
        return own
    return exc


def not_yaml(name: str, text: str, exc: yaml.YAMLError) -> SpecError:
    """The error for ``text``, which is not YAML: ``name:line: not valid YAML or JSON: ...``."""
    exc = _problem(text, exc)
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    what = getattr(exc, "problem", None) or str(exc)
    if "\\t" in what or "\t" in what:
        what += " (YAML indents with spaces only: replace the tabs)"
    return SpecError(f"{name}{line}: not valid YAML or JSON: {what}")


def construct(root: yaml.Node) -> Any:
    """The data of a node tree, as PyYAML's safe loader makes it (no Python objects)."""
    return _Constructor("").construct_document(root)


class _Constructor(yaml.SafeLoader):
    """PyYAML's safe constructor, whose value errors (an integer of 5000 digits, a 13th month)
    name the value's line instead of escaping as a bare ``ValueError``."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ConstructorError(None, None, f"{exc}", node.start_mark) from None


class _Composer:
    def __init__(self, name: str) -> None:
        self.name = name
        self.anchors: dict[str, tuple[yaml.Node, int]] = {}
        self.stack: list[_Open] = []
        self.root: yaml.Node | None = None
        self.documents = 0

    def run(self, text: str) -> yaml.Node | None:
        try:
            return self._compose(text)
        except yaml.MarkedYAMLError as exc:
            if "maximum nesting depth" not in str(exc.problem):
                raise
            # libyaml's own bound (1000 levels), met while reading ahead of ours
            line = f":{exc.problem_mark.line + 1}" if exc.problem_mark is not None else ""
            raise SpecError(f"{self.name}{line}: {_TOO_DEEP}") from None

    def _compose(self, text: str) -> yaml.Node | None:
        for event in yaml.parse(text, Loader=_PARSER):
            if isinstance(event, yaml.DocumentStartEvent):
                self._document(event)
            elif isinstance(event, yaml.AliasEvent):
                self._alias(event)
            elif isinstance(event, yaml.ScalarEvent):
                self._scalar(event)
            elif isinstance(event, yaml.CollectionStartEvent):
                self._start(event)
            elif isinstance(event, yaml.CollectionEndEvent):
                self._end(event)
        return self.root

    def _document(self, event: yaml.DocumentStartEvent) -> None:
        self.documents += 1
        if self.documents > 1:
            raise ComposerError(
                None, None,
                "found a second document (after a '---'); a spec is one document",
                _start_of(event),
            )  # fmt: skip

    def _alias(self, event: yaml.AliasEvent) -> None:
        anchor = event.anchor or ""
        if anchor not in self.anchors:
            raise ComposerError(
                None, None,
                f"found undefined alias {anchor!r} (an anchor is defined before its aliases, "
                "and outside them)",
                _start_of(event),
            )  # fmt: skip
        node, values = self.anchors[anchor]
        self._add(node, values, event)

    def _scalar(self, event: yaml.ScalarEvent) -> None:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _resolve(yaml.ScalarNode, event.value, event.implicit)
        node = yaml.ScalarNode(tag, event.value, _start_of(event), _end_of(event), event.style)
        self._anchor(event.anchor, node, 1, event)
        self._add(node, 1, event)

    def _start(self, event: yaml.CollectionStartEvent) -> None:
        kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
        tag = event.tag
        if tag is None or tag == "!":
            tag = _resolve(kind, None, event.implicit)
        node = kind(tag, [], _start_of(event), None, event.flow_style)
        self.stack.append(_Open(node, event.anchor))
        if len(self.stack) > MAX_DEPTH:
            raise self._bound(event, _TOO_DEEP)

    def _end(self, event: yaml.CollectionEndEvent) -> None:
        done = self.stack.pop()
        done.node.end_mark = _end_of(event)
        self._anchor(done.anchor, done.node, done.values, event)
        self._add(done.node, done.values, event)

    def _anchor(self, anchor: str | None, node: yaml.Node, values: int, event: yaml.Event) -> None:
        if anchor is None:
            return
        if anchor in self.anchors:
            first = self.anchors[anchor][0].start_mark
            raise ComposerError(
                None, None,
                f"found duplicate anchor {anchor!r} (first on line {first.line + 1}); give each "
                "anchor its own name",
                _start_of(event),
            )  # fmt: skip
        self.anchors[anchor] = (node, values)

    def _add(self, node: yaml.Node, values: int, event: yaml.Event) -> None:
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        parent.values += values
        if parent.values > MAX_VALUES:
            raise self._bound(
                event,
                f"the spec holds more than {MAX_VALUES} values, each alias counted as the values "
                "it stands for; write fewer aliases of aliases (a spec this large is an attack or "
                "a mistake)",
            )
        if isinstance(parent.node, yaml.SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    def _bound(self, event: yaml.Event, message: str) -> SpecError:
        mark = _start_of(event)
        line = f":{mark.line + 1}" if mark is not None else ""
        return SpecError(f"{self.name}{line}: {message}")


def _start_of(event: yaml.Event) -> Mark | None:
    # libyaml's events carry its own Mark class, which has the same fields.
    return cast("Mark | None", event.start_mark)


def _end_of(event: yaml.Event) -> Mark | None:
    return cast("Mark | None", event.end_mark)
