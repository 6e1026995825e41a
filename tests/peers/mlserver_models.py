"""Train and save the scikit-learn models that MLServer serves in the peer tests.

Run by the MLServer venv's Python (the scikit-learn that saves a model must load it):

    python mlserver_models.py MODELS_DIR HTTP_PORT GRPC_PORT METRICS_PORT

writes MODELS_DIR/settings.json (the server on 127.0.0.1, inference in the server's process) and
two models, each a folder with ``model.joblib`` and ``model-settings.json``:

- ``regressor``: ``LinearRegression`` fitted on ``y = 2 x0 + 3 x1 + 1`` (exact on its data);
- ``classifier``: ``LogisticRegression``, class 1 when ``x0 + x1 > 0``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LinearRegression, LogisticRegression


def main(models: Path, http_port: int, grpc_port: int, metrics_port: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-10, 10, size=(200, 2))
    regressor = LinearRegression().fit(x, x @ np.array([2.0, 3.0]) + 1.0)
    classifier = LogisticRegression().fit(x, (x.sum(axis=1) > 0).astype(np.int64))
    for name, model in (("regressor", regressor), ("classifier", classifier)):
        folder = models / name
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, folder / "model.joblib")
        settings = {
            "name": name,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"},
        }
        (folder / "model-settings.json").write_text(json.dumps(settings))
    server = {
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": metrics_port,
        "parallel_workers": 0,
    }
    (models / "settings.json").write_text(json.dumps(server))


if __name__ == "__main__":
    main(Path(sys.argv[1]), *(int(port) for port in sys.argv[2:5]))
