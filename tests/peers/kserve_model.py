"""A KServe Python model server on 127.0.0.1, run by the KServe venv's Python (not the project's).

    python kserve_model.py --model_name linear --http_port PORT --enable_grpc false

The model is ``y = 2 x0 + 3 x1 + 1`` on rows of two numbers (the MLServer regressor's function),
over both of KServe's REST protocols: v1 (``instances`` in, ``predictions`` out) and the Open
Inference Protocol v2 (one input tensor ``[n, 2]`` in; the output ``predict``, ``[n]``, in the
input's datatype, and ``double`` (``2 y``) when the request asks for it). A row that is not two
numbers makes numpy raise, which KServe answers with HTTP 500 (a poison pill); a request for an
output the model does not have is refused as ``InvalidInput`` (HTTP 400).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server
from kserve.errors import InvalidInput
from kserve.protocol.rest import server as rest_server

WEIGHTS = np.array([2.0, 3.0])
OUTPUTS = ("predict", "double")


class Linear(Model):  # type: ignore[misc]
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.ready = False

    def load(self) -> bool:
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        if isinstance(payload, InferRequest):
            return self._predict_v2(payload)
        rows = np.asarray(payload["instances"], dtype=np.float64)
        return {"predictions": _linear(rows).tolist()}

    def _predict_v2(self, request: InferRequest) -> InferResponse:
        rows = request.inputs[0].as_numpy()
        wanted = [o.name for o in (request.request_outputs or [])] or ["predict"]
        unknown = [name for name in wanted if name not in OUTPUTS]
        if unknown:
            raise InvalidInput(f"unknown output(s) {unknown}; this model has {list(OUTPUTS)}")
        y = _linear(rows).astype(rows.dtype)
        values = {"predict": y, "double": 2 * y}
        outputs = []
        datatype = request.inputs[0].datatype
        for name in wanted:
            output = InferOutput(name=name, shape=list(y.shape), datatype=datatype)
            output.set_data_from_numpy(values[name], binary_data=False)
            outputs.append(output)
        return InferResponse(
            response_id=request.id or "", model_name=self.name, infer_outputs=outputs
        )


def _linear(rows: np.ndarray) -> np.ndarray:
    return rows @ WEIGHTS + 1.0


def _on_loopback() -> None:
    """KServe's REST server listens on 0.0.0.0 whatever it is told; keep it on 127.0.0.1."""
    init = rest_server.RESTServer.__init__

    def loopback_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.config.host = "127.0.0.1"

    rest_server.RESTServer.__init__ = loopback_init


if __name__ == "__main__":
    _on_loopback()
    args, _ = model_server.parser.parse_known_args()  # KServe's own: --model_name, ports
    model = Linear(args.model_name)
    model.load()
    ModelServer().start([model])
