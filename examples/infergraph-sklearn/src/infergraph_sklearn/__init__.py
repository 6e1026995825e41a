"""scikit-learn models as the infergraph handler ``sklearn``: an infergraph plugin."""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

import infergraph as ig


class SklearnConfig(ig.HandlerConfig):
    """Config of the ``sklearn`` handler."""

    default_max_batch_size = 1024

    path: str = Field(description="The fitted model: a .joblib file, or a .pkl/.pickle file.")
    method: Literal["predict", "predict_proba"] = Field(
        default="predict",
        description="The estimator method to call: predict (one label or value per row) "
        "or predict_proba (one array of class probabilities per row).",
    )
    features: list[str] | None = Field(
        default=None,
        description="Feature names in the order the model was fitted with; needed when "
        "examples are dicts by feature name.",
    )


class SklearnHandler(ig.ModelHandler):
    """Runs a fitted scikit-learn estimator or pipeline on rows of features."""

    Config = SklearnConfig
    accepts_blocks = True
    config: SklearnConfig

    def load(self) -> Any:
        path = Path(self.config.path)
        if not path.is_file():
            raise ig.ModelLoadError(f"scikit-learn model {str(path)!r} not found (no such file)")
        try:
            if path.suffix in (".pkl", ".pickle"):
                with path.open("rb") as stream:
                    model = pickle.load(stream)
            else:
                import joblib

                model = joblib.load(path)
        except ModuleNotFoundError as exc:
            raise ig.MissingDependencyError(
                f"loading {str(path)!r} needs the module {exc.name!r}, which is not installed: "
                "pip install scikit-learn (and the libraries the model was fitted with)",
                package=exc.name,
            ) from exc
        if not callable(getattr(model, self.config.method, None)):
            raise ig.ModelLoadError(
                f"{type(model).__name__} from {str(path)!r} has no {self.config.method}() "
                "method; choose another `method`"
            )
        return model

    def batch(self, examples: Sequence[Any]) -> np.ndarray:
        return np.stack([self._row(example) for example in examples])

    def batch_block(self, block: ig.Block) -> np.ndarray:
        if isinstance(block.data, Mapping):
            names = self._feature_names(block.data)
            return np.column_stack([block.data[name] for name in names])
        return np.asarray(block.data)

    def run(self, model: Any, batch: np.ndarray) -> np.ndarray:
        return getattr(model, self.config.method)(batch)

    def _row(self, example: Any) -> np.ndarray:
        if isinstance(example, Mapping):
            return np.asarray([example[name] for name in self._feature_names(example)])
        row = np.atleast_1d(np.asarray(example))
        if row.ndim != 1:
            raise ig.InputError(
                f"an example is one row of features (1-D); got shape {row.shape}. "
                "Pass many rows as an ig.Block"
            )
        return row

    def _feature_names(self, fields: Mapping[str, Any]) -> list[str]:
        if self.config.features is None:
            raise ig.InputError(
                f"the example is a dict (fields {sorted(fields)}): set the config field "
                "`features` to the feature names in the order the model was fitted with"
            )
        missing = [name for name in self.config.features if name not in fields]
        if missing:
            raise ig.InputError(
                f"the example lacks the features {missing}; the model takes "
                f"{self.config.features} (it has {sorted(fields)})"
            )
        return self.config.features


@ig.hookimpl
def register_handlers(register: Any) -> None:
    register("sklearn", SklearnHandler)
