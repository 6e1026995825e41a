"""Mixed good and bad input streams for property tests, and the invariants every run keeps.

A stream is a list of :class:`Case`: the element fed to a run, the key its result must carry
and the output a good element must get (``None`` for an element that must fail). Keys come in
several types (ints, strings, tuples, lists, dicts, floats), and some elements are not
``(key, example)`` pairs at all (bare examples, 3-tuples, lists), which ``keyed=True`` turns into
``input`` failures. Every run must keep: inputs = predictions + failures, one result per key,
the order (in-process), a message on every failure, and the right output for every good element.

A block whose rows fail is bisected by rows: its results are a prediction of its good rows (if
any) and a failure per bad row, all with its key; they count as one element, and its rows are
conserved (the prediction's rows plus the failures are the block's rows).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

import infergraph as ig
from infergraph.testing import outputs_close

# An example strategy draws (example, expected output or None when the example must fail).
Examples = st.SearchStrategy[tuple[Any, Any]]

KEY_STYLES: dict[str, Callable[[int], Any]] = {
    "int": lambda i: i,
    "str": lambda i: f"k{i}",
    "tuple": lambda i: ("t", i),
    "list": lambda i: [i],
    "dict": lambda i: {"id": i},
    "float": lambda i: i + 0.5,
}
PAIRINGS = ("pair",) * 9 + ("bare", "triple", "list")


@dataclass(frozen=True)
class Raw:
    """A drawn element before its index is known: how it is keyed, the example, the output."""

    style: str
    pairing: str
    example: Any
    expected: Any


@dataclass(frozen=True)
class Case:
    """One element of a stream and what its result must be."""

    element: Any
    key: Any
    expected: Any
    pairing: str

    @property
    def good(self) -> bool:
        return self.pairing == "pair" and self.expected is not None


def raws(examples: Examples) -> st.SearchStrategy[Raw]:
    """One element of any key style and pairing, with an example from ``examples``."""
    return st.builds(
        lambda style, pairing, drawn: Raw(style, pairing, drawn[0], drawn[1]),
        st.sampled_from(sorted(KEY_STYLES)),
        st.sampled_from(PAIRINGS),
        examples,
    )


def streams(
    examples: Examples, min_size: int = 0, max_size: int = 24
) -> st.SearchStrategy[list[Raw]]:
    """A stream of elements (possibly empty)."""
    return st.lists(raws(examples), min_size=min_size, max_size=max_size)


def assemble(stream: Sequence[Raw], start: int = 0) -> list[Case]:
    """The cases of a stream whose keys are numbered from ``start`` (unique across streams)."""
    cases = []
    for offset, raw in enumerate(stream):
        key = KEY_STYLES[raw.style](start + offset)
        if raw.pairing == "pair":
            cases.append(Case((key, raw.example), key, raw.expected, raw.pairing))
        elif raw.pairing == "triple":
            cases.append(Case((key, raw.example, "extra"), None, None, raw.pairing))
        elif raw.pairing == "list":
            cases.append(Case([key, raw.example], None, None, raw.pairing))
        else:
            cases.append(Case(raw.example, None, None, raw.pairing))
    return cases


@dataclass
class Counts:
    """Conservation figures of a run."""

    inputs: int = 0
    predictions: int = 0
    failures: int = 0

    def add(self, other: Counts) -> None:
        self.inputs += other.inputs
        self.predictions += other.predictions
        self.failures += other.failures


Results = Sequence[ig.Prediction[Any] | ig.Failure]


def check_in_process(cases: Sequence[Case], results: Results) -> Counts:
    """Every invariant, with order: the results of element ``i`` come ``i``-th."""
    grouped = _in_order(cases, results)
    for case, group in zip(cases, grouped, strict=True):
        for result in group:
            assert repr(result.key) == repr(case.key), f"order or key lost: {result!r} for {case!r}"
        _check_group(case, group)
    _check_unique_keys([group[0] for group in grouped])
    return _counts(cases, grouped)


def check_any_order(cases: Sequence[Case], results: Results) -> Counts:
    """Every invariant but order (the Beam path): the results of each keyed element."""
    by_key: dict[str, list[ig.Prediction[Any] | ig.Failure]] = {}
    for result in results:
        if result.key is not None:
            by_key.setdefault(repr(result.key), []).append(result)
    grouped = []
    for case in cases:
        if case.pairing == "pair":
            assert repr(case.key) in by_key, f"no result for key {case.key!r}"
            group = by_key.pop(repr(case.key))
            _check_group(case, group)
            grouped.append(group)
    assert not by_key, f"results for keys no element had: {sorted(by_key)[:5]}"
    unpaired = [r for r in results if r.key is None]
    assert len(unpaired) == sum(c.pairing != "pair" for c in cases)
    for result in unpaired:
        assert isinstance(result, ig.Failure) and result.stage == "input", result
        assert result.message
    return _counts(cases, [*grouped, *([r] for r in unpaired)])


def _rows(case: Case) -> int | None:
    """The rows of a keyed block element, else ``None`` (one result)."""
    if case.pairing != "pair" or not isinstance(case.element[1], ig.Block):
        return None
    rows = case.element[1].rows
    return rows if rows > 0 else None


def _in_order(
    cases: Sequence[Case], results: Results
) -> list[list[ig.Prediction[Any] | ig.Failure]]:
    """The results of each element, in order (a block's results run until its rows add up)."""
    grouped = []
    position = 0
    for case in cases:
        assert position < len(results), f"{len(cases)} inputs gave {len(results)} results"
        rows = _rows(case)
        group = [results[position]]
        position += 1
        if rows is not None:
            covered = _rows_of(group[0])
            while covered < rows:
                assert position < len(results), f"rows of {case!r} lost"
                group.append(results[position])
                covered += _rows_of(results[position])
                position += 1
            assert covered == rows, f"{rows} rows of {case!r} gave {covered}"
        grouped.append(group)
    assert position == len(results), f"{len(cases)} inputs gave {len(results)} results"
    return grouped


def _rows_of(result: ig.Prediction[Any] | ig.Failure) -> int:
    if isinstance(result, ig.Prediction) and isinstance(result.example, ig.Block):
        return result.example.rows
    return 1


def _check_group(case: Case, group: Sequence[ig.Prediction[Any] | ig.Failure]) -> None:
    rows = _rows(case)
    if rows is None or len(group) == 1:
        assert len(group) == 1, f"{len(group)} results for {case!r}"
        _check_result(case, group[0])
        return
    assert sum(_rows_of(r) for r in group) == rows, f"rows of {case!r} not conserved"
    assert not case.good, f"rows of a good block failed: {group!r}"
    for result in group:
        if isinstance(result, ig.Failure):
            assert result.stage and result.error_type and result.message.strip(), result


def _check_result(case: Case, result: ig.Prediction[Any] | ig.Failure) -> None:
    if case.good:
        assert isinstance(result, ig.Prediction), f"a good element failed: {result!r}"
        assert outputs_close(result.output, case.expected), (
            f"wrong output for {case.element!r}: {result.output!r} != {case.expected!r}"
        )
        return
    assert isinstance(result, ig.Failure), f"a bad element got a prediction: {result!r}"
    assert result.stage and result.error_type and result.message.strip(), result
    if case.pairing != "pair":
        assert result.stage == "input" and result.error_type == "InputError", result


def _check_unique_keys(results: Results) -> None:
    keys = Counter(repr(r.key) for r in results if r.key is not None)
    repeated = [key for key, count in keys.items() if count > 1]
    assert not repeated, f"keys repeated: {repeated[:5]}"


def _counts(
    cases: Sequence[Case], grouped: Sequence[Sequence[ig.Prediction[Any] | ig.Failure]]
) -> Counts:
    """An element is predicted when its one result is a prediction, failed otherwise."""
    assert len(grouped) == len(cases)
    predictions = sum(len(g) == 1 and isinstance(g[0], ig.Prediction) for g in grouped)
    failures = len(grouped) - predictions
    assert predictions == sum(case.good for case in cases)
    return Counts(len(cases), predictions, failures)


_totals: dict[str, Counts] = {}
_runs: Counter[str] = Counter()


def record(test: str, counts: Counts) -> None:
    """Add a run's figures to ``test``'s totals; with ``INFERGRAPH_STREAM_REPORT`` set to a
    path, the totals are written there as JSON (a record of what the tests covered)."""
    _totals.setdefault(test, Counts()).add(counts)
    _runs[test] += 1
    path = os.environ.get("INFERGRAPH_STREAM_REPORT")
    if path:
        report = {name: {"runs": _runs[name], **vars(t)} for name, t in sorted(_totals.items())}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=2)
