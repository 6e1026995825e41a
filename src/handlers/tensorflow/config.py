"""Config of the ``tensorflow`` handler: which SavedModel signature, on which device."""

from __future__ import annotations

from pydantic import Field, StrictBool, StrictInt, model_validator

from ...core.config import HandlerConfig
from .device import Settings


class TensorFlowConfig(HandlerConfig):
    """Config of the ``tensorflow`` handler."""

    default_max_batch_size = 1024

    path: str = Field(
        description="Directory of the SavedModel (the one holding saved_model.pb), or a URL of "
        "one that Beam's FileSystems reads (s3://, gs://, ...): its tree is fetched once per "
        "process (see infergraph.handlers.storage)."
    )
    signature: str = Field(default="serving_default", description="Name of the signature to call.")
    tags: list[str] | None = Field(
        default=None,
        description="MetaGraph tags to load (e.g. ['serve']); by default the only MetaGraph.",
    )
    output_names: list[str] | None = Field(
        default=None, description="Outputs to return; all of the signature's outputs by default."
    )
    memory_growth: StrictBool = Field(
        default=False,
        description="Let TensorFlow grow GPU memory as needed instead of reserving it all.",
    )
    memory_limit_mb: StrictInt | None = Field(
        default=None,
        ge=1,
        description="Cap the GPU memory TensorFlow may use in this process, in MiB.",
    )
    logical_device: str | None = Field(
        default=None,
        description="Run on this TensorFlow logical device (e.g. '/GPU:1', '/CPU:1') instead of "
        "the one derived from `device`; for processes that split devices into logical ones. "
        "It must exist; visible devices are left as they are.",
    )
    intra_op_threads: StrictInt = Field(
        default=0, ge=0, description="Threads inside one operator; 0 lets TensorFlow choose."
    )
    inter_op_threads: StrictInt = Field(
        default=0, ge=0, description="Threads across operators; 0 lets TensorFlow choose."
    )

    @model_validator(mode="after")
    def _check_memory(self) -> TensorFlowConfig:
        if self.memory_growth and self.memory_limit_mb:
            raise ValueError("set memory_growth or memory_limit_mb, not both")
        return self

    def device_settings(self) -> Settings:
        """The device part of the config."""
        return Settings(
            device=self.device,
            allow_cpu_fallback=self.allow_cpu_fallback,
            memory_growth=self.memory_growth,
            memory_limit_mb=self.memory_limit_mb,
            logical_device=self.logical_device,
            intra_op_threads=self.intra_op_threads,
            inter_op_threads=self.inter_op_threads,
        )
