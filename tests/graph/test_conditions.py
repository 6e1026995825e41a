from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from infergraph import ConfigError, InputError, when
from infergraph.graph.conditions import All, AnyOf, Compare, Not, as_condition


def lookup(values: dict[str, Any]) -> Any:
    return lambda root: (True, values[root]) if root in values else (False, None)


ELEMENT = lookup({"input": {"x": 600, "tag": "b", "v": np.array([7.5])}, "key": "k1"})


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (when("input.x", "gt", 500), True),
        (when("input.x", "le", 500), False),
        (when("input.x", "eq", 600), True),
        (when("input.x", "ne", 600), False),
        (when("input.x", "lt", 601), True),
        (when("input.x", "ge", 600), True),
        (when("input.tag", "in", ["a", "b"]), True),
        (when("key", "eq", "k1"), True),
        (when("input.v", "gt", 7), True),  # a one-element array compares as its element
        (when("input.v.0", "eq", 7.5), True),
        (when("input.missing", "exists"), False),
        (when("input.tag", "exists"), True),
        (when("input.missing", "gt", 1), False),  # unresolved: every comparison is false
        (when("input.missing", "ne", 1), False),
        (when("nowhere", "eq", 1), False),
    ],
)
def test_operators(condition: Compare, expected: bool) -> None:
    assert condition.evaluate(ELEMENT) is expected


def test_combinators_and_their_plain_data_form() -> None:
    combined = when("input.x", "gt", 500) & ~when("input.tag", "in", ["a"])
    assert combined.evaluate(ELEMENT)
    assert (when("input.x", "lt", 0) | when("key", "eq", "k1")).evaluate(ELEMENT)
    data = {
        "and": [
            {"field": "input.x", "op": "gt", "value": 500},
            {"not": {"field": "input.tag", "op": "in", "value": ["a"]}},
        ]
    }
    parsed = as_condition(data)
    assert isinstance(parsed, All) and isinstance(parsed.all_of[1], Not)
    assert parsed.evaluate(ELEMENT)
    assert parsed.fields() == {"input.x", "input.tag"}
    assert isinstance(as_condition({"or": [data]}), AnyOf)
    assert parsed.describe() == "(input.x gt 500 and not input.tag in ['a'])"


def test_conditions_are_data_never_code() -> None:
    with pytest.raises(ConfigError, match=r"unknown op \"__import__\('os'\)\" \(one of: eq, ne"):
        as_condition({"field": "input.x", "op": "__import__('os')", "value": 1})
    with pytest.raises(ConfigError, match=r"not a valid condition: write \{field: PATH"):
        as_condition({"field": "input.x", "op": "gt", "value": 1, "extra": True})
    with pytest.raises(TypeError, match="a condition must be"):
        as_condition("input.x > 1")


@pytest.mark.parametrize(
    ("op", "hint"),
    [(">=", "ge"), (">", "gt"), ("<=", "le"), ("<", "lt"), ("==", "eq"), ("!=", "ne"),
     ("gte", "gt"), ("exist", "exists")],
)
def test_an_unknown_op_is_a_config_error_with_a_suggestion(op: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        when("input", op, 100)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"when('input', {op!r}, 100): unknown op {op!r}; did you mean {hint!r}? "
        "(one of: eq, ne, lt, le, gt, ge, in, exists)"
    )
    with pytest.raises(ConfigError, match=f"did you mean {hint!r}"):
        as_condition({"field": "input", "op": op, "value": 100})


def test_a_value_that_does_not_fit_its_op_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"when\('input', 'in', 5\): op 'in' takes a list"):
        when("input", "in", 5)


def test_incomparable_values_name_the_field() -> None:
    with pytest.raises(InputError, match=r"cannot compare field 'input.tag' \(str 'b'\) gt 5"):
        when("input.tag", "gt", 5).evaluate(ELEMENT)


def test_a_column_gives_what_each_row_gives() -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 1000, 200).astype(np.float32)
    tags = rng.choice(["a", "b", "c"], 200)
    five = (x * 5).reshape(-1, 1)
    valid = rng.random(200) > 0.2  # rows where 'five' has a value
    keys = np.array([f"k{i}" for i in range(200)])
    conditions = [
        when("input.x", "gt", 500),
        when("input.tag", "in", ["a", "c"]) & ~when("input.x", "le", 100),
        when("five", "ge", 2500) | when("key", "eq", "k7"),
        when("five.0", "lt", 1000),
        when("five", "exists"),
        when("input.missing", "exists"),
        when("input.missing", "eq", 1),
    ]

    def column(root: str) -> Any:
        return {
            "input": ({"x": x, "tag": tags}, None),
            "five": (five, valid),
            "key": (keys, None),
        }.get(root, (None, None))

    for condition in conditions:
        columnar = condition.evaluate_column(column, 200)
        for i in range(200):
            values = {"input": {"x": x[i], "tag": tags[i]}, "key": keys[i]}
            if valid[i]:
                values["five"] = five[i]
            assert columnar[i] == condition.evaluate(lookup(values)), (condition, i)


def test_a_column_of_several_values_per_row_must_be_indexed() -> None:
    wide = np.ones((3, 2))
    with pytest.raises(InputError, match=r"holds \[2\] values per row; compare one"):
        when("five", "gt", 0).evaluate_column(lambda root: (wide, None), 3)
