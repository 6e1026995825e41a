"""The ``many`` handler: a model per element, chosen from the element, in a bounded cache.

One pipeline often serves a model per customer. A ``many`` node names an inner handler and a
path template (``models/{input.tenant}.onnx``: ``input`` is the element's record) or a mapping
from a field's values to paths; each path's model is loaded on first use, with the inner
handler's own ``load``, and kept in a cache of at most ``max_models`` loaded models per process
(and, optionally, at most ``max_bytes`` of their files on disk), least recently used out. Within a
batch, rows are grouped by model so that each model is called once on its rows. The node's
metrics count ``model_loads`` and ``model_evictions``.

Spec::

    models:
      per_tenant:
        handler: many
        inner: onnx
        path: models/{input.tenant}.onnx        # or: field: tenant, paths: {a: models/a.onnx}
        max_models: 4
"""

from __future__ import annotations

import functools
import os
import string
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, StrictInt, model_validator

from ..core.config import HandlerConfig
from ..core.errors import ConfigError, InputError
from ..core.handler import ModelHandler
from ..plugins.hookspecs import Register, hookimpl
from ..plugins.manager import get_plugin_manager


class ManyConfig(HandlerConfig):
    """Config of the ``many`` handler."""

    inner: str = Field(description="The handler that loads and runs each model (onnx, ...).")
    path: str | None = Field(
        default=None,
        description="Path template of an element's model: {input.FIELD} is the element's field "
        "(models/{input.tenant}.onnx). Local paths or URLs (see infergraph.handlers.storage).",
    )
    field: str | None = Field(
        default=None, description="With `paths`: the element's field whose value picks the model."
    )
    paths: dict[str, str] | None = Field(
        default=None, description="With `field`: the model path for each value of the field."
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="The inner handler's options (all but its path)."
    )
    max_models: StrictInt = Field(
        default=4,
        ge=1,
        description="Models kept loaded per process; the least recently used "
        "one is unloaded to make room.",
    )
    max_bytes: StrictInt | None = Field(
        default=None,
        ge=1,
        description="Bound of the loaded models' sizes (their files on disk) per process; none "
        "by default. The model in use always stays.",
    )

    @model_validator(mode="after")
    def _one_choice(self) -> ManyConfig:
        if (self.path is None) == (self.paths is None) or (self.paths is None) != (
            self.field is None
        ):
            raise ValueError("set either `path` (a template) or both `field` and `paths`")
        return self


class _Record:
    """``input`` in a path template: the element's fields as attributes."""

    def __init__(self, example: Any) -> None:
        self._example = example

    def __getattr__(self, name: str) -> Any:
        if isinstance(self._example, Mapping) and name in self._example:
            return self._example[name]
        fields = sorted(self._example) if isinstance(self._example, Mapping) else "none"
        raise InputError(f"the model path needs the field {name!r}; the element has {fields}")


@dataclass
class ModelCache:
    """Loaded models by path, least recently used first; counts loads and evictions."""

    load: Callable[[str], Any]
    max_models: int
    max_bytes: int | None = None
    loaded: OrderedDict[str, tuple[Any, int]] = field(default_factory=OrderedDict)
    counts: dict[str, int] = field(default_factory=lambda: {"model_loads": 0, "model_evictions": 0})
    peak: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def get(self, path: str) -> Any:
        """The model at ``path``, loaded if need be (others unloaded first to make room, so
        that no more than ``max_models`` are ever loaded at once)."""
        with self.lock:
            if path in self.loaded:
                self.loaded.move_to_end(path)
                return self.loaded[path][0]
            self._evict(room=1)
            model = self.load(path)
            self.loaded[path] = (model, _size(path))
            self.counts["model_loads"] += 1
            self.peak = max(self.peak, len(self.loaded))
            self._evict(room=0)
            return model

    def take_counts(self) -> dict[str, int]:
        """The counts since the last call."""
        with self.lock:
            counts = {name: value for name, value in self.counts.items() if value}
            self.counts = dict.fromkeys(self.counts, 0)
            return counts

    def _evict(self, room: int) -> None:
        """Unload the least recently used models until ``room`` more fit (the newest stays)."""
        while len(self.loaded) > 1 - room and (
            len(self.loaded) + room > self.max_models
            or (self.max_bytes is not None and self._bytes() > self.max_bytes)
        ):
            self.loaded.popitem(last=False)
            self.counts["model_evictions"] += 1

    def _bytes(self) -> int:
        return sum(size for _, size in self.loaded.values())


def _size(path: str) -> int:
    """Bytes of a local model file or directory (0 for a URL: its cached copy is not known)."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, name)) for name in files)
    return total


@dataclass(frozen=True)
class Group:
    """The rows of a batch that one model answers: their positions and the inner batch."""

    path: str
    rows: list[int]
    batch: Any


class ManyHandler(ModelHandler[Any, list[Group], list[tuple[Group, Any]], Any, ModelCache]):
    """Runs each element on the model its fields choose (see the module docstring)."""

    Config = ManyConfig
    config: ManyConfig

    def load(self) -> ModelCache:
        self._inner_handler(self._probe_path())  # an unknown handler or bad option: now
        return ModelCache(self._load_one, self.config.max_models, self.config.max_bytes)

    def batch(self, examples: Sequence[Any]) -> list[Group]:
        rows: dict[str, list[int]] = {}
        for index, example in enumerate(examples):
            rows.setdefault(self.model_path(example), []).append(index)
        return [
            Group(path, chosen, self._inner_handler(path).batch([examples[i] for i in chosen]))
            for path, chosen in rows.items()
        ]

    def run(self, model: ModelCache, batch: list[Group]) -> list[tuple[Group, Any]]:
        return [
            (group, self._inner_handler(group.path).run(model.get(group.path), group.batch))
            for group in batch
        ]

    def postprocess(self, examples: Sequence[Any], outputs: list[tuple[Group, Any]]) -> list[Any]:
        predictions: list[Any] = [None] * len(examples)
        for group, output in outputs:
            chosen = [examples[i] for i in group.rows]
            answers = self._inner_handler(group.path).postprocess(chosen, output)
            for index, answer in zip(group.rows, answers, strict=True):
                predictions[index] = answer
        return predictions

    def take_counts(self, model: ModelCache) -> Mapping[str, int]:
        return model.take_counts()

    def model_path(self, example: Any) -> str:
        """The path of the model that answers ``example``.

        Raises:
            InputError: the element lacks the field, or has a value with no model.
        """
        if self.config.path is not None:
            try:
                return string.Formatter().vformat(self.config.path, (), {"input": _Record(example)})
            except (KeyError, IndexError, AttributeError) as exc:
                raise InputError(f"model path {self.config.path!r}: {exc}") from exc
        value = _Record(example).__getattr__(self.config.field or "")
        paths = self.config.paths or {}
        if str(value) not in paths:
            raise InputError(
                f"no model for {self.config.field}={value!r}; models exist for {sorted(paths)}"
            )
        return paths[str(value)]

    def _load_one(self, path: str) -> Any:
        return self._inner_handler(path).load()

    def _inner_handler(self, path: str) -> Any:
        cache: dict[str, Any] = self.__dict__.setdefault("_inners", {})
        inner = cache.get(path)
        if inner is None:
            if "path" in self.config.options:
                raise ConfigError("options of a `many` handler's inner model take no `path`")
            options = {**self.config.options, "path": path}
            inner = cache[path] = _plugins().create(self.config.inner, **options)
        return inner

    def _probe_path(self) -> str:
        return next(iter((self.config.paths or {"": "probe"}).values()))


@functools.cache
def _plugins() -> Any:
    return get_plugin_manager()


@hookimpl
def register_handlers(register: Register) -> None:
    """Register the ``many`` handler."""
    register("many", ManyHandler)
