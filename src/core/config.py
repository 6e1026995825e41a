"""Handler configuration: one frozen pydantic model per handler."""

from __future__ import annotations

import difflib
import re
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import ConfigError

_DEVICE = re.compile(r"cpu|auto|gpu(:[0-9]+)?")


class HandlerConfig(BaseModel):
    """Base config of every handler: batching policy, device and model id.

    Subclass it to add a handler's own fields; every field needs a ``description`` because it
    feeds ``infergraph handlers --schema`` and the docs. Configs are frozen and reject unknown
    fields. The shared fields take values of their own type only (no ``"8"`` or ``True`` for a
    number): options from JSON or YAML (``--set max_batch_size=8``, graph specs) already are.
    """

    # hide_input_in_errors: a rejected secret (a token) is never quoted in an error.
    model_config = ConfigDict(
        frozen=True, extra="forbid", protected_namespaces=(), hide_input_in_errors=True
    )

    #: Default ``max_batch_size`` for this handler; subclasses may override it.
    default_max_batch_size: ClassVar[int] = 256

    model_id: StrictStr | None = Field(
        default=None,
        description="Identifier recorded on every prediction and used as the metrics namespace; "
        "defaults to the handler name and its model path.",
    )
    min_batch_size: StrictInt = Field(
        default=1, ge=1, description="Smallest batch the Beam path aims for (BatchElements)."
    )
    max_batch_size: StrictInt | None = Field(
        default=None,
        ge=1,
        description="Most examples (or block rows) in one model call; "
        "defaults to the handler's own default.",
    )
    max_batch_duration_s: StrictFloat | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Longest time a batch waits to fill before it is run anyway "
        "(streaming pipelines and slow in-process iterables).",
    )
    max_batch_bytes: StrictInt | None = Field(
        default=None,
        gt=0,
        description="Optional byte budget of one model call; a batch whose examples exceed it "
        "is split.",
    )
    device: StrictStr = Field(
        default="cpu",
        description="Where the model runs: 'cpu', 'gpu' (first GPU), 'gpu:N' or 'auto' "
        "(a GPU if one is present, else the CPU).",
    )
    allow_cpu_fallback: StrictBool = Field(
        default=False,
        description="When a GPU is requested but missing, run on the CPU with one warning "
        "instead of raising DeviceError.",
    )
    run_timeout_s: StrictFloat | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Longest one model call may take; a call that runs longer fails its batch "
        "with ModelTimeoutError (and is left to finish in the background). No limit by default.",
    )

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        if not _DEVICE.fullmatch(value):
            raise ValueError("must be 'cpu', 'gpu', 'gpu:N' (N a GPU index) or 'auto'")
        return value

    @model_validator(mode="after")
    def _check_batch_sizes(self) -> HandlerConfig:
        if self.max_batch_size is not None and self.min_batch_size > self.max_batch_size:
            raise ValueError(
                f"min_batch_size ({self.min_batch_size}) exceeds "
                f"max_batch_size ({self.max_batch_size})"
            )
        return self

    @property
    def batch_size_limit(self) -> int:
        """The effective ``max_batch_size``."""
        return self.max_batch_size or type(self).default_max_batch_size

    @property
    def gpu_index(self) -> int | None:
        """The GPU index of ``gpu:N``; ``None`` for ``gpu``, ``auto`` and ``cpu``."""
        _, _, index = self.device.partition(":")
        return int(index) if index else None


def validate_config(
    config_cls: type[HandlerConfig], options: dict[str, Any], handler_name: str
) -> HandlerConfig:
    """Build ``config_cls`` from ``options``, turning pydantic errors into a :class:`ConfigError`.

    The message names the handler, each bad field with its problem, and the valid fields.
    """
    try:
        return config_cls.model_validate(options)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(config)"
            problem = error["msg"]
            if error["type"] == "extra_forbidden":
                problem = "unknown field"
                names = list(config_cls.model_fields)
                hint = difflib.get_close_matches(str(error["loc"][-1]), names, n=1)
                if hint:
                    problem += f" (did you mean {hint[0]!r}?)"
            problems.append(f"{field}: {problem}")
        fields = ", ".join(sorted(config_cls.model_fields))
        raise ConfigError(
            f"invalid config for handler {handler_name!r}: {'; '.join(problems)}. "
            f"Valid fields: {fields}"
        ) from exc
