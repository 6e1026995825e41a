"""The kinds of graph node. Each is plain data, picklable, checked when it is made.

- :class:`ModelNode`: a handler (any registered one, built-in or plugin) on one input.
- :class:`FunctionNode`: a plain Python function of one or more inputs (adapters, post-processing).
- :class:`RouteNode`: sends each element to the first target whose condition holds, or a default.
- :class:`SplitNode`: sends each element to an arm chosen by a stable hash of its key, by weight.
- :class:`MergeNode`: the value of the first of its inputs that has one (joins route arms).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError
from ..handler import ModelHandler
from .conditions import Condition

AnyHandler = ModelHandler[Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class ModelNode:
    """Runs ``handler`` on the value of ``input``.

    Attributes:
        input_field: With a dict value, the field to pass to the handler (see
            :func:`infergraph.core.fields.select_input`).
    """

    name: str
    handler: AnyHandler
    input: str | None = None
    input_field: str | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """The node's inputs (one)."""
        return (self.input,) if self.input else ()


@dataclass(frozen=True, eq=False)
class FunctionNode:
    """Calls ``fn(*values)`` with the values of ``inputs`` (node names, ``input`` or ``key``).

    A node made from a ``module:function`` reference pickles as the reference and imports the
    function again where it runs, so specs work on workers that import the module themselves.
    """

    name: str
    ref: str
    inputs: tuple[str, ...] = ()
    search_path: str | None = None
    fn: Callable[..., Any] | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        name: str,
        fn: Callable[..., Any] | str,
        inputs: Sequence[str] = (),
        *,
        search_path: str | None = None,
    ) -> FunctionNode:
        """A function node from a callable or a ``module:function`` reference, checked now."""
        if isinstance(fn, str):
            ref, resolved = fn, import_function(fn, search_path, node=name)
        elif callable(fn):
            ref = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
            resolved = fn
        else:
            raise ConfigError(
                f"node {name!r}: a function node needs a callable or 'module:function', "
                f"got {type(fn).__name__}"
            )
        node = cls(name, ref, tuple(inputs), search_path, resolved)
        if inputs:
            check_arity(name, resolved, len(inputs))
        return node

    def with_inputs(self, inputs: Sequence[str]) -> FunctionNode:
        """The same function on other inputs (arity checked)."""
        check_arity(self.name, self.function, len(inputs))
        return FunctionNode(self.name, self.ref, tuple(inputs), self.search_path, self.fn)

    @property
    def function(self) -> Callable[..., Any]:
        """The callable, imported on first use where the node was unpickled from a reference."""
        if self.fn is None:
            object.__setattr__(self, "fn", import_function(self.ref, self.search_path, self.name))
        assert self.fn is not None
        return self.fn

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.search_path is not None:  # made from a spec: ship the reference, not the code
            state["fn"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


@dataclass(frozen=True)
class RouteNode:
    """Sends each element on to the first target whose condition holds, else to ``default``.

    Its value is its input's value; an element no case matches and with no default is skipped
    by every target (recorded, never dropped).
    """

    name: str
    cases: tuple[tuple[Condition, str], ...]
    default: str | None = None
    input: str | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """The node's inputs (one)."""
        return (self.input,) if self.input else ()

    @property
    def targets(self) -> tuple[str, ...]:
        """Every node this route may send an element to."""
        names = [target for _, target in self.cases]
        if self.default is not None:
            names.append(self.default)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class SplitNode:
    """Sends each element to one arm, chosen by a stable hash of its key and the arms' weights.

    The same key always takes the same arm (across runs, processes and machines), which makes an
    offline A/B split reproducible. ``salt`` changes the assignment (default: the node's name).
    """

    name: str
    arms: tuple[tuple[str, float], ...]
    salt: str = ""
    input: str | None = None

    def __post_init__(self) -> None:
        if not self.arms:
            raise ConfigError(f"split {self.name!r} needs at least one arm")
        bad = [f"{arm}={weight}" for arm, weight in self.arms if not weight > 0]
        if bad:
            raise ConfigError(f"split {self.name!r}: arm weights must be > 0; got {bad}")

    @property
    def inputs(self) -> tuple[str, ...]:
        """The node's inputs (one)."""
        return (self.input,) if self.input else ()

    @property
    def targets(self) -> tuple[str, ...]:
        """The arms' node names."""
        return tuple(arm for arm, _ in self.arms)


@dataclass(frozen=True)
class MergeNode:
    """The value of the first input that has one: joins the arms of a route or split."""

    name: str
    inputs: tuple[str, ...] = ()


Node = ModelNode | FunctionNode | RouteNode | SplitNode | MergeNode


def kind(node: Node) -> str:
    """The node's kind as a spec names it: model, function, route, split or merge."""
    return type(node).__name__.removesuffix("Node").lower()


def import_function(ref: str, search_path: str | None, node: str) -> Callable[..., Any]:
    """Import ``module:function`` (``search_path`` first on ``sys.path``)."""
    module_name, sep, qualname = ref.partition(":")
    if not sep or not module_name or not qualname:
        raise ConfigError(f"node {node!r}: function {ref!r} must be written 'module:function'")
    if search_path and search_path not in sys.path:
        sys.path.insert(0, search_path)
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"node {node!r}: cannot import module {module_name!r} for function {ref!r}: {exc}"
        ) from exc
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            names = [n for n in dir(target) if not n.startswith("_")]
            raise ConfigError(
                f"node {node!r}: module {module_name!r} has no {qualname!r}; "
                f"it defines {', '.join(names) or 'nothing public'}"
            ) from None
    if not callable(target):
        raise ConfigError(f"node {node!r}: {ref!r} is a {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


def check_arity(node: str, fn: Callable[..., Any], count: int) -> None:
    """Raise a ConfigError unless ``fn`` accepts ``count`` positional arguments."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return
    try:
        signature.bind(*range(count))
    except TypeError as exc:
        raise ConfigError(
            f"node {node!r}: function {getattr(fn, '__qualname__', fn)!r}{signature} cannot take "
            f"{count} positional argument{'s' if count != 1 else ''} (one per input); {exc}"
        ) from None
