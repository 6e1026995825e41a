"""The kinds of graph node. Each is plain data, picklable, checked when it is made.

- :class:`ModelNode`: a handler (any registered one, built-in or plugin) on one input.
- :class:`FunctionNode`: a plain Python function of one or more inputs (adapters, post-processing).
- :class:`RouteNode`: sends each element to the first target whose condition holds, or a default.
- :class:`SplitNode`: sends each element to an arm chosen by a stable hash of its key, by weight.
- :class:`MergeNode`: the value of the first of its inputs that has one (joins route arms).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..core.errors import ConfigError
from ..core.handler import ModelHandler
from ..core.outputs import exception_text
from .conditions import Condition

AnyHandler = ModelHandler[Any, Any, Any, Any, Any]


@dataclass(frozen=True)
class ModelNode:
    """Runs ``handler`` on the value of ``input``.

    Attributes:
        input_field: With a dict value, the field to pass to the handler (see
            :func:`infergraph.core.fields.select_input`).
        select: Whether the node picks the part of a record the handler takes (the input
            rule); a handler run alone (``predict``, ``RunInference``) takes examples as given.
    """

    name: str
    handler: AnyHandler
    input: str | None = None
    input_field: str | None = None
    select: bool = True

    @property
    def inputs(self) -> tuple[str, ...]:
        """The node's inputs (one)."""
        return (self.input,) if self.input else ()


@dataclass(frozen=True, eq=False)
class FunctionNode:
    """Calls ``fn(*values)`` with the values of ``inputs`` (node names, ``input`` or ``key``).

    A node made from a ``module:function`` reference pickles as the reference and imports the
    function again where it runs, so specs work on workers that import the module themselves.

    A ``columnar`` function takes and returns whole columns (numpy arrays with one row per
    element, or dicts of them): on blocks it runs once per block, without per-row Python work;
    on single elements it gets columns of one row. Other functions take one element's values.
    """

    name: str
    ref: str
    inputs: tuple[str, ...] = ()
    search_path: str | None = None
    fn: Callable[..., Any] | None = field(default=None, repr=False)
    columnar: bool = False
    allowed: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        name: str,
        fn: Callable[..., Any] | str,
        inputs: Sequence[str] = (),
        *,
        search_path: str | None = None,
        columnar: bool = False,
        allowed: Sequence[str] | None = None,
    ) -> FunctionNode:
        """A function node from a callable or a ``module:function`` reference, checked now.

        With ``allowed`` (a spec's ``imports``), a reference must name a function defined in one
        of those modules: nothing another module defines, nothing reached through a module.
        """
        allow = tuple(allowed) if allowed is not None else None
        if isinstance(fn, str):
            ref, resolved = fn, import_function(fn, search_path, f"node {name!r}", allow)
        elif callable(fn):
            ref = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
            resolved = fn
        else:
            raise ConfigError(
                f"node {name!r}: a function node needs a callable or 'module:function', "
                f"got {type(fn).__name__}"
            )
        node = cls(name, ref, tuple(inputs), search_path, resolved, columnar, allow)
        if inputs:
            check_arity(name, resolved, len(inputs))
        return node

    def with_inputs(self, inputs: Sequence[str]) -> FunctionNode:
        """The same function on other inputs (arity checked)."""
        check_arity(self.name, self.function, len(inputs))
        return FunctionNode(
            self.name,
            self.ref,
            tuple(inputs),
            self.search_path,
            self.fn,
            self.columnar,
            self.allowed,
        )

    @property
    def function(self) -> Callable[..., Any]:
        """The callable, imported on first use where the node was unpickled from a reference."""
        if self.fn is None:
            owner = f"node {self.name!r}"
            function = import_function(self.ref, self.search_path, owner, self.allowed)
            object.__setattr__(self, "fn", function)
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
        bad = [f"{arm}={weight}" for arm, weight in self.arms if not 0 < weight < math.inf]
        if bad:
            raise ConfigError(f"split {self.name!r}: arm weights must be finite and > 0; got {bad}")

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


def failure_message(node: Node, stage: str, where: str, exc: BaseException) -> str:
    """The message of a failure at ``node``: stage, node, which element, the cause (a model
    node's secrets redacted before the cause is cut)."""
    redact = node.handler.redact if isinstance(node, ModelNode) else str
    return f"{stage} failed in {kind(node)} node {node.name!r} for {where}: " + exception_text(
        exc, redact=redact
    )


def import_function(
    ref: str, search_path: str | None, owner: str, allowed: Sequence[str] | None = None
) -> Callable[..., Any]:
    """Import ``module:function``, the module from ``search_path`` first.

    ``owner`` names what the reference is for in messages (``"node 'f'"``).

    With ``allowed`` (a spec's ``imports`` allow-list), the module must be one of those modules
    (or inside one), and every name after ``:`` must be defined in such a module: a function or
    class reached through another module (``json:codecs.builtins.eval``) or imported from one
    (``adapters:system`` after ``from os import system``) is refused.
    """
    module_name, sep, qualname = ref.partition(":")
    if not sep or not module_name or not qualname:
        raise ConfigError(f"{owner}: function {ref!r} must be written 'module:function'")
    if allowed is not None and not _within(module_name, allowed):
        raise ConfigError(_not_allowed(module_name, allowed))
    try:
        module = _import_module(module_name, search_path)
    except ImportError as exc:
        raise ConfigError(
            f"{owner}: cannot import module {module_name!r} for function {ref!r}: {exc}"
        ) from exc
    target: Any = module
    for part in qualname.split("."):
        target = _attribute(target, part, module_name, qualname, owner)
        if allowed is not None:
            _check_defined_in(target, ref, (module.__name__, *allowed), owner)
    if not callable(target):
        raise ConfigError(f"{owner}: {ref!r} is a {type(target).__name__}, not a function")
    return target  # type: ignore[no-any-return]


def _not_allowed(module: str, allowed: Sequence[str]) -> str:
    return (
        f"module {module!r} is not in the spec's `imports` allow-list "
        f"({', '.join(allowed) or 'empty'}); add it there if you trust it"
    )


def _within(module: str, allowed: Sequence[str]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in allowed)


def _attribute(target: Any, part: str, module: str, qualname: str, owner: str) -> Any:
    try:
        return getattr(target, part)
    except AttributeError:
        names = [n for n in dir(target) if not n.startswith("_")]
        raise ConfigError(
            f"{owner}: module {module!r} has no {qualname!r}; "
            f"it defines {', '.join(names) or 'nothing public'}"
        ) from None


def _check_defined_in(target: Any, ref: str, allowed: Sequence[str], owner: str) -> None:
    """Refuse ``target`` unless it is a function or class an allowed module defines."""
    if isinstance(target, ModuleType):
        raise ConfigError(
            f"{owner}: {ref!r} reaches module {target.__name__!r} through an allowed "
            "module; name a function defined in a module of the spec's `imports`"
        )
    module = getattr(target, "__module__", None)
    if not isinstance(module, str) or not _within(module, allowed):
        raise ConfigError(
            f"{owner}: {ref!r} is defined in {module or 'no module'!r}, not in a module of "
            "the spec's `imports`; name a function defined there, or add its module to `imports` "
            "if you trust it"
        )


def _import_module(name: str, search_path: str | None) -> ModuleType:
    """Import ``name``, from ``search_path`` first, leaving ``sys.path`` as it was.

    ``search_path`` is on ``sys.path`` (last, so installed libraries win) only while the module
    is imported, for the imports of its own sibling modules: a file beside a spec named like a
    library (``pyarrow.py``) is never imported in the library's place afterwards.

    Two specs in different directories may each have an ``adapters.py``: a module of the same
    name already imported from elsewhere is not reused; the file in ``search_path`` is loaded
    under a private name instead.
    """
    location = _module_file(Path(search_path), name) if search_path else None
    if location is None:
        return importlib.import_module(name)
    assert search_path is not None
    existing = sys.modules.get(name)
    if existing is not None and _file_of(existing) == location:
        return existing
    if existing is None and "." not in name:
        return _load(name, location, search_path)
    if existing is None:  # a module inside a package beside the spec: its package first
        module = _import_with_path(name, search_path)
        if _file_of(module) == location:
            return module
    alias = f"_infergraph_spec_{hashlib.sha1(str(location).encode()).hexdigest()[:12]}_{name}"
    return sys.modules.get(alias) or _load(alias, location, search_path)


def _import_with_path(name: str, search_path: str) -> ModuleType:
    """``importlib.import_module(name)`` with ``search_path`` last on ``sys.path`` meanwhile."""
    added = search_path not in sys.path
    if added:
        sys.path.append(search_path)
    try:
        return importlib.import_module(name)
    finally:
        if added and search_path in sys.path:
            sys.path.remove(search_path)


def _load(name: str, location: Path, search_path: str) -> ModuleType:
    """Run the file at ``location`` as module ``name``, ``search_path`` on the path meanwhile."""
    package = [str(location.parent)] if location.name == "__init__.py" else None
    spec = importlib.util.spec_from_file_location(
        name, location, submodule_search_locations=package
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {location}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    added = search_path not in sys.path
    if added:
        sys.path.append(search_path)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if added and search_path in sys.path:
            sys.path.remove(search_path)
    return module


def _module_file(base: Path, name: str) -> Path | None:
    path = base.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _file_of(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve() if file else None


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
