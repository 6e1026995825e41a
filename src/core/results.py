"""What the execution paths emit: one :class:`Prediction` or one :class:`Failure` per input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

OutputT = TypeVar("OutputT")


@dataclass(slots=True, eq=False)
class Prediction(Generic[OutputT]):
    """A successful inference on one input element. Treat it as read-only.

    (Not a frozen dataclass: one is made per element, and a frozen one costs about three times
    as much to build.)

    Attributes:
        example: The input example as given (a :class:`Block` for block inputs).
        output: The handler's prediction for it (for a block, the outputs of all its rows).
        model_id: The id of the handler that made it.
        key: The key the input carried, or ``None`` for unkeyed input.
    """

    example: Any
    output: OutputT
    model_id: str
    key: Any = None

    def __repr__(self) -> str:
        return (
            f"Prediction(key={self.key!r}, model_id={self.model_id!r}, "
            f"output={short_repr(self.output)})"
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """An input element that did not produce a prediction, kept as data.

    Attributes:
        example: The input example as given.
        key: The key the input carried, or ``None``.
        stage: Where it failed: ``input``, ``batch``, ``run``, ``postprocess`` (or a handler's own).
        node: The model id of the handler that failed on it.
        error_type: The exception's class name.
        message: What went wrong and, where known, how to fix it.
    """

    example: Any
    key: Any
    stage: str
    node: str
    error_type: str
    message: str

    def __repr__(self) -> str:
        return (
            f"Failure(key={self.key!r}, node={self.node!r}, stage={self.stage!r}, "
            f"error_type={self.error_type!r}, message={self.message!r})"
        )


Result = Prediction[Any] | Failure


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
