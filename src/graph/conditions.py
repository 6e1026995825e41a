"""Conditions for routes: data, never code.

A condition is a small tree of fixed operators over field paths, so a spec file can hold one and
nothing in it is evaluated as Python. In a spec::

    {field: input.x, op: gt, value: 500}
    {and: [{field: five, op: ge, value: 1000}, {not: {field: input.tag, op: in, value: [a, b]}}]}
    {field: input.score, op: exists}

From Python, ``ig.when("input.x", "gt", 500)``, combined with ``&``, ``|`` and ``~``.

A field path starts at ``input`` (the graph's input example), ``key`` (the element's key) or the
name of an upstream node (its output), and goes on through dict keys and list or array indexes:
``input.x``, ``five.0``, ``scores.label``. A one-element array compares as its element. A path that
does not resolve makes every comparison false; ``exists`` tests for it.
"""

from __future__ import annotations

import difflib
import operator
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, get_args

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    field_validator,
    model_validator,
)

from ..core.errors import ConfigError, InputError

Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "exists"]
OPS: tuple[str, ...] = get_args(Op)

_SYMBOLS = {">=": "ge", ">": "gt", "<=": "le", "<": "lt", "==": "eq", "=": "eq", "!=": "ne"}
"""Operators as Python writes them, and their names here (for "did you mean")."""

CONDITION_FORMS = (
    "{field: PATH, op: eq|ne|lt|le|gt|ge|in|exists, value: V}, or {and: [...]}, {or: [...]}, "
    "{not: {...}}"
)
"""How a condition is written as data (in a spec, or a dict passed to a route)."""

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}

Lookup = Callable[[str], tuple[bool, Any]]
"""Resolves a field path root (``input``, ``key``, a node) to ``(found, value)``."""

ColumnLookup = Callable[[str], tuple[Any, "np.ndarray[Any, Any] | None"]]
"""For a block: a root's column (an array or a dict of arrays; ``None`` if absent) and the
mask of rows that have a value (``None``: every row)."""

_COLUMN_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": np.equal,
    "ne": np.not_equal,
    "lt": np.less,
    "le": np.less_equal,
    "gt": np.greater,
    "ge": np.greater_equal,
}

_MISSING = object()


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def __and__(self, other: Condition) -> Condition:
        return All.model_validate({"and": [as_condition(self), as_condition(other)]})

    def __or__(self, other: Condition) -> Condition:
        return AnyOf.model_validate({"or": [as_condition(self), as_condition(other)]})

    def __invert__(self) -> Condition:
        return Not.model_validate({"not": as_condition(self)})


class Compare(_Base):
    """``field op value``: one comparison, or ``exists``."""

    field: str = Field(
        description="Field path: 'input', 'key' or a node name, then dict keys or list indexes, "
        "joined by dots (e.g. 'input.x', 'five.0')."
    )
    op: Op = Field(description="Operator: eq, ne, lt, le, gt, ge, in (value is a list), exists.")
    value: Any = Field(default=None, description="The value compared with (not for 'exists').")

    @field_validator("op", mode="before")
    @classmethod
    def _known_op(cls, op: Any) -> Any:
        if isinstance(op, str) and op not in OPS:
            hint = _SYMBOLS.get(op.strip()) or next(iter(difflib.get_close_matches(op, OPS, 1)), "")
            maybe = f"; did you mean {hint!r}?" if hint else ""
            raise ValueError(f"unknown op {op!r}{maybe} (one of: {', '.join(OPS)})")
        return op

    @model_validator(mode="after")
    def _value_fits_op(self) -> Compare:
        # Caught here, these would fail every element at the route instead.
        if self.op == "in" and not isinstance(self.value, list | tuple | set | frozenset):
            raise ValueError(
                f"op 'in' takes a list of values, e.g. value: [a, b]; got {self.value!r}"
            )
        if self.op in ("lt", "le", "gt", "ge") and self.value is None:
            raise ValueError(f"op {self.op!r} needs a value to compare {self.field!r} with")
        return self

    def evaluate(self, lookup: Lookup) -> bool:
        """Whether the condition holds for the element ``lookup`` reads."""
        found = resolve(self.field, lookup)
        if self.op == "exists":
            return found is not _MISSING and found is not None
        if found is _MISSING:
            return False
        value = scalar(found)
        if self.op == "in":
            return value in self.value
        try:
            return bool(_COMPARE[self.op](value, self.value))
        except TypeError as exc:
            raise InputError(
                f"cannot compare field {self.field!r} ({type(value).__name__} {value!r}) "
                f"{self.op} {self.value!r}: {exc}"
            ) from None

    def evaluate_column(self, lookup: ColumnLookup, rows: int) -> np.ndarray[Any, Any]:
        """Whether the condition holds, for each of ``rows`` rows of a block (vectorized)."""
        root, *rest = self.field.split(".")
        column, valid = lookup(root)
        for part in rest:
            column = _column_step(column, part)
        if column is None:
            return np.zeros(rows, dtype=bool)
        present = np.ones(rows, dtype=bool) if valid is None else valid.copy()
        if self.op == "exists":
            return present
        values = _column_scalar(column, self.field)
        try:
            if self.op == "in":
                held = np.isin(
                    values, np.asarray(self.value, dtype=object if values.dtype == object else None)
                )
            else:
                held = np.asarray(_COLUMN_COMPARE[self.op](values, self.value), dtype=bool)
        except (TypeError, np.exceptions.DTypePromotionError) as exc:
            raise InputError(
                f"cannot compare field {self.field!r} ({values.dtype} column) {self.op} "
                f"{self.value!r}: {exc}"
            ) from None
        return held & present

    def fields(self) -> set[str]:
        """The field paths the condition reads."""
        return {self.field}

    def describe(self) -> str:
        """The condition as text, e.g. ``input.x gt 500``."""
        return (
            f"{self.field} exists"
            if self.op == "exists"
            else f"{self.field} {self.op} {self.value!r}"
        )


class All(_Base):
    """Every condition holds (``and``)."""

    all_of: list[Condition] = Field(alias="and", min_length=1, description="Conditions.")

    def evaluate(self, lookup: Lookup) -> bool:
        """Whether every condition holds."""
        return all(c.evaluate(lookup) for c in self.all_of)

    def evaluate_column(self, lookup: ColumnLookup, rows: int) -> np.ndarray[Any, Any]:
        """Whether every condition holds, per row."""
        held = np.ones(rows, dtype=bool)
        for condition in self.all_of:
            held &= condition.evaluate_column(lookup, rows)
        return held

    def fields(self) -> set[str]:
        """The field paths the conditions read."""
        return set().union(*(c.fields() for c in self.all_of))

    def describe(self) -> str:
        """The condition as text."""
        return "(" + " and ".join(c.describe() for c in self.all_of) + ")"


class AnyOf(_Base):
    """At least one condition holds (``or``)."""

    any_of: list[Condition] = Field(alias="or", min_length=1, description="Conditions.")

    def evaluate(self, lookup: Lookup) -> bool:
        """Whether some condition holds."""
        return any(c.evaluate(lookup) for c in self.any_of)

    def evaluate_column(self, lookup: ColumnLookup, rows: int) -> np.ndarray[Any, Any]:
        """Whether some condition holds, per row."""
        held = np.zeros(rows, dtype=bool)
        for condition in self.any_of:
            held |= condition.evaluate_column(lookup, rows)
        return held

    def fields(self) -> set[str]:
        """The field paths the conditions read."""
        return set().union(*(c.fields() for c in self.any_of))

    def describe(self) -> str:
        """The condition as text."""
        return "(" + " or ".join(c.describe() for c in self.any_of) + ")"


class Not(_Base):
    """The condition does not hold (``not``)."""

    not_: Condition = Field(alias="not", description="The condition negated.")

    def evaluate(self, lookup: Lookup) -> bool:
        """Whether the condition does not hold."""
        return not self.not_.evaluate(lookup)

    def evaluate_column(self, lookup: ColumnLookup, rows: int) -> np.ndarray[Any, Any]:
        """Whether the condition does not hold, per row."""
        return ~self.not_.evaluate_column(lookup, rows)

    def fields(self) -> set[str]:
        """The field paths the condition reads."""
        return self.not_.fields()

    def describe(self) -> str:
        """The condition as text."""
        return f"not {self.not_.describe()}"


Condition = Annotated[Compare | All | AnyOf | Not, Field(union_mode="left_to_right")]
"""A condition: a comparison, or ``and`` / ``or`` / ``not`` of conditions."""


class ConditionModel(RootModel[Condition]):
    """A condition as a pydantic root model (to validate one from plain data)."""


All.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


def when(field: str, op: Op, value: Any = None) -> Compare:
    """A comparison of a field path with a value; combine with ``&``, ``|`` and ``~``.

    Raises:
        ConfigError: an unknown operator (``">="`` says: did you mean 'ge'?) or a value that
            does not fit it.

    Example:
        >>> c = when("input.x", "gt", 500) & ~when("key", "in", ["skip-me"])
        >>> c.evaluate(lambda root: (True, {"x": 600}) if root == "input" else (True, "a"))
        True
    """
    try:
        return Compare(field=field, op=op, value=value)
    except ValidationError as exc:
        raise ConfigError(f"when({field!r}, {op!r}, {value!r}): {_problem(exc)}") from None


def as_condition(value: Any) -> Condition:
    """A condition from a condition object or its plain-data form (a dict, as in a spec).

    Raises:
        ConfigError: a dict that is not a condition (the message says how to write one).
        TypeError: ``value`` is neither a condition nor a dict.
    """
    if isinstance(value, Compare | All | AnyOf | Not):
        return value
    if isinstance(value, Mapping):
        try:
            return ConditionModel.model_validate(dict(value)).root
        except ValidationError as exc:
            raise ConfigError(f"condition {dict(value)!r}: {_problem(exc)}") from None
    raise TypeError(
        f"a condition must be ig.when(...) or a dict such as "
        f"{{'field': 'input.x', 'op': 'gt', 'value': 1}}; got {type(value).__name__}"
    )


def _problem(exc: ValidationError) -> str:
    """What is wrong with a condition: its own check's message where one refused it (an
    unknown op, a value that does not fit), else how conditions are written."""
    for error in exc.errors():
        if error["type"] == "value_error":
            return str(error["msg"]).removeprefix("Value error, ")
    return f"not a valid condition: write {CONDITION_FORMS}"


def resolve(path: str, lookup: Lookup) -> Any:
    """The value at ``path``, or a private sentinel when it does not resolve."""
    root, *rest = path.split(".")
    found, value = lookup(root)
    if not found:
        return _MISSING
    for part in rest:
        value = _step(value, part)
        if value is _MISSING:
            return _MISSING
    return value


def _step(value: Any, part: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(part, _MISSING)
    if isinstance(value, list | tuple | np.ndarray) and part.lstrip("-").isdigit():
        index = int(part)
        return value[index] if -len(value) <= index < len(value) else _MISSING
    return _MISSING


def scalar(value: Any) -> Any:
    """A one-element array or list as its element; numpy scalars as Python values."""
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return value.reshape(()).item()
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple) and len(value) == 1:
        return scalar(value[0])
    return value


def _column_step(column: Any, part: str) -> Any:
    if column is None:
        return None
    if isinstance(column, Mapping):
        return column.get(part)
    array = np.asarray(column)
    if part.lstrip("-").isdigit() and array.ndim >= 2:
        index = int(part)
        return array[:, index] if -array.shape[1] <= index < array.shape[1] else None
    return None


def _column_scalar(column: Any, field: str) -> np.ndarray[Any, Any]:
    """A column of one value per row (a column of one-element rows as their elements)."""
    array = np.asarray(column)
    if array.ndim > 1 and int(np.prod(array.shape[1:])) == 1:
        return array.reshape(len(array))
    if array.ndim > 1:
        raise InputError(
            f"field {field!r} holds {list(array.shape[1:])} values per row; compare one: "
            f"index it, e.g. {field}.0"
        )
    return array


def root_of(path: str) -> str:
    """The first part of a field path (``input``, ``key`` or a node name)."""
    return path.split(".", 1)[0]
