"""Reading input elements: a ``(key, example)`` pair or an unkeyed example becomes an :class:`Item`.

Both paths read their inputs with these functions, so a stream means the same on each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .calls import Item
from .errors import InputError
from .results import Failure

__all__ = ["to_item", "to_items"]


def to_item(element: Any, keyed: bool | None, node: str) -> Item | Failure:
    """Read one input element.

    With ``keyed=None`` a 2-tuple is a ``(key, example)`` pair and anything else an unkeyed
    example; ``keyed=True`` requires pairs (anything else is an ``input`` failure) and
    ``keyed=False`` takes every element, tuples included, as the example itself.
    """
    is_pair = isinstance(element, tuple) and len(element) == 2
    if keyed is None:
        keyed = is_pair
    if not keyed:
        return Item(None, element)
    if not is_pair:
        return Failure(
            example=element,
            key=None,
            stage="input",
            node=node,
            error_type=InputError.__name__,
            message=f"expected a (key, example) pair because keyed=True, got "
            f"{type(element).__name__}; pass pairs, or keyed=None to detect them per element",
        )
    return Item(element[0], element[1])


def to_items(
    elements: Sequence[Any], keyed: bool | None, node: str
) -> tuple[list[Item], list[Failure]]:
    """:func:`to_item` of many elements: the items, and the failures of unreadable ones."""
    if keyed is None:  # nothing can fail: one comprehension (a pair becomes an Item as it is)
        return [
            _new(Item, e) if type(e) is tuple and len(e) == 2 else _unkeyed_or_pair(e)
            for e in elements
        ], []
    items: list[Item] = []
    failures: list[Failure] = []
    for element in elements:
        entry = to_item(element, keyed, node)
        if isinstance(entry, Failure):
            failures.append(entry)
        else:
            items.append(entry)
    return items, failures


_new = tuple.__new__


def _unkeyed_or_pair(element: Any) -> Item:
    if isinstance(element, tuple) and len(element) == 2:  # a tuple subclass (a named tuple)
        return Item(element[0], element[1])
    return _new(Item, (None, element))
