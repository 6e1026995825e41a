"""The handler contract: four stages, one config, nothing else."""

from __future__ import annotations

import hashlib
import hmac
import secrets as _secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, SecretBytes, SecretStr

from .blocks import Block
from .config import HandlerConfig, validate_config
from .errors import ConfigError, InferenceError
from .memory import looks_like_out_of_memory
from .redaction import redact

ExampleT = TypeVar("ExampleT")
BatchT = TypeVar("BatchT")
OutputT = TypeVar("OutputT")
PredictionT = TypeVar("PredictionT")
ModelT = TypeVar("ModelT")

# Keys the hash of secrets in cache keys: a cache key tells secrets apart within this process,
# but neither shows them nor lets anyone test a guess against it.
_CACHE_KEY_SALT = _secrets.token_bytes(32)


class ModelHandler(ABC, Generic[ExampleT, BatchT, OutputT, PredictionT, ModelT]):
    """Base class of every handler, built-in or third-party.

    A handler says how to load a model and call it; the framework owns keys, batching, model
    sharing, metrics, failure isolation and the execution paths. Subclasses set ``Config`` and
    implement :meth:`load` and :meth:`run`; :meth:`batch` and :meth:`postprocess` have defaults.

    Example:
        >>> class Doubler(ModelHandler):
        ...     def load(self):
        ...         return 2
        ...     def run(self, model, batch):
        ...         return [model * x for x in batch]
        >>> Doubler().run(Doubler().load(), Doubler().batch([1, 2]))
        [2, 4]

    Attributes:
        name: The name the handler was created under: :meth:`infergraph.Plugins.create` (and
            so :func:`infergraph.handler`) sets it on the instance; a handler built from its
            class directly has the class's own ``name`` (by default none: the class name is
            used as its label).
        Config: The handler's config class; the handler is constructed as ``Handler(config)``.
        accepts_blocks: Whether :meth:`batch_block` is implemented (see :class:`Block`).
        input_names: Fields the handler takes from a record read from a file (JSONL, CSV) or
            passed by a graph: it receives a dict of exactly these. ``None`` (the default): a
            record with one field gives that field's value (see :mod:`infergraph.core.fields`).
    """

    name: str = ""
    Config: ClassVar[type[HandlerConfig]] = HandlerConfig
    accepts_blocks: ClassVar[bool] = False
    input_names: ClassVar[tuple[str, ...] | None] = None
    #: Set by ``load`` when a requested GPU was missing and the config allowed the CPU instead;
    #: the execution paths count it in the ``cpu_fallback`` metric.
    fell_back_to_cpu: bool = False

    def __init__(self, config: HandlerConfig | None = None, /, **options: Any) -> None:
        """Build the handler from a config object or from config options.

        Raises:
            ConfigError: the options are invalid, or ``config`` is not a ``Config``.
        """
        label = self.name or type(self).__name__
        if config is None:
            config = validate_config(self.Config, options, label)
        elif options:
            raise ConfigError(f"handler {label!r}: pass a config object or options, not both")
        elif not isinstance(config, self.Config):
            raise ConfigError(
                f"handler {label!r} takes a {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config

    # -- the four stages -------------------------------------------------------------------

    @abstractmethod
    def load(self) -> ModelT:
        """Load the model. Called once per worker process; the model is shared by threads."""

    def batch(self, examples: Sequence[ExampleT]) -> BatchT:
        """Collate examples into the model's native batch. Default: a list of the examples."""
        return list(examples)  # type: ignore[return-value]

    @abstractmethod
    def run(self, model: ModelT, batch: BatchT) -> OutputT:
        """Call the model once on a batch."""

    def postprocess(self, examples: Sequence[ExampleT], outputs: OutputT) -> Sequence[PredictionT]:
        """Split the outputs into exactly one prediction per example.

        The default accepts any sequence (or array) whose length matches. An element that is an
        :class:`Exception` becomes a failure record for that example alone.
        """
        return list(outputs)  # type: ignore[call-overload,no-any-return]

    # -- blocks ----------------------------------------------------------------------------

    def batch_block(self, block: Block) -> BatchT:
        """The native batch for a slice of a :class:`Block` (handlers with ``accepts_blocks``)."""
        raise InferenceError(
            f"handler {self.name or type(self).__name__!r} does not accept blocks; "
            "pass one example per element"
        )

    def block_output(self, block: Block, outputs: OutputT) -> Any:
        """The prediction for a block slice from the model's outputs. Default: the outputs."""
        return outputs

    # -- what the loaded model needs -------------------------------------------------------

    def fixed_batch_size(self, model: ModelT) -> int | None:
        """The batch size the loaded model requires, or ``None`` when any size works.

        Handlers read it from the model (a static first dimension shared by its inputs). The
        framework then calls :meth:`run` with exactly that many examples (block rows included),
        filling the last partial batch with copies of its last example and dropping their
        predictions. Default: ``None``.
        """
        return None

    def take_counts(self, model: ModelT) -> Mapping[str, int]:
        """Counters the loaded model gathered since the last call, which the framework adds to
        the node's metrics after every model call (a per-element model cache counts its loads
        and evictions). Default: none.
        """
        return {}

    def is_out_of_memory(self, exc: Exception) -> bool:
        """Whether ``exc`` (raised by a stage) is an allocation failure of the model's runtime.

        The framework then halves the batch and remembers the smaller size for this model in
        this process, instead of failing the batch's elements. The default recognises
        TensorFlow, ONNX Runtime, CUDA and Python allocation errors by type and message.
        """
        return looks_like_out_of_memory(exc)

    @property
    def takes_records(self) -> bool:
        """Whether a record (a dict read from a file or passed by a graph) reaches the handler
        as it is, even with one field: for handlers whose examples are records of named
        features. Default: ``False``, a record of one field gives that field's value (see
        :mod:`infergraph.core.fields`).
        """
        return False

    # -- identity --------------------------------------------------------------------------

    @property
    def model_id(self) -> str:
        """The id recorded on predictions and used as the metrics namespace."""
        return self.config.model_id or self.default_model_id()

    def default_model_id(self) -> str:
        """The model id when the config gives none; handlers with a path add it."""
        path = getattr(self.config, "path", None)
        label = self.name or type(self).__name__
        return f"{label}:{path}" if path else label

    def cache_key(self) -> str:
        """Identifies the loaded model for sharing across threads and DoFn instances.

        The config's JSON masks secrets, so a keyed hash of :meth:`secrets` tells apart handlers
        that differ only in a secret (a token, say) without putting the secret in the key.
        """
        cls = type(self)
        key = f"{cls.__module__}.{cls.__qualname__}:{self.config.model_dump_json()}"
        secrets = self.secrets()
        if not secrets:
            return key
        digest = hmac.new(_CACHE_KEY_SALT, "\0".join(secrets).encode(), hashlib.sha256)
        return f"{key}:secrets={digest.hexdigest()}"

    def secrets(self) -> Sequence[str]:
        """Values that must never appear in a failure message, a log or a cache key.

        Default: every ``SecretStr`` and ``SecretBytes`` in the config (nested models, lists
        and dicts included). Override it to add secrets the config does not hold.
        """
        return list(_config_secrets(self.config))

    def redact(self, text: str) -> str:
        """``text`` with every secret of :meth:`secrets` replaced by ``**********``, in every
        form a message may quote it (escaped, URL-encoded, base64-encoded)."""
        return redact(text, self.secrets())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


def _config_secrets(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, SecretBytes):
        yield value.get_secret_value().decode("utf-8", "replace")
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _config_secrets(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _config_secrets(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _config_secrets(item)
