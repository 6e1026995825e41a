"""The KServe side of ``benchmarks.serve``: an ONNX model in a custom ``kserve.Model``, as a
KServe user writes one, run by the KServe venv's Python (``tests/peers/setup.sh``).

    python serve_kserve_model.py --model_name m --model_path m.onnx --http_port PORT \
        --enable_grpc false

One input tensor (``x``, FP32) in, the model's first output (``y``) out, over KServe's v2 REST
protocol; ONNX Runtime with one intra-op and one inter-op thread, as infergraph's side uses.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server
from kserve.protocol.rest import server as rest_server


class OnnxModel(Model):  # type: ignore[misc]
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.ready = False

    def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: dict[str, str] | None = None) -> Any:
        rows = np.asarray(payload.inputs[0].as_numpy(), dtype=np.float32)
        (y,) = self.session.run(None, {self.input: rows})[:1]
        output = InferOutput(name="y", shape=list(y.shape), datatype="FP32")
        output.set_data_from_numpy(y, binary_data=False)
        assert isinstance(payload, InferRequest)
        return InferResponse(
            response_id=payload.id or "", model_name=self.name, infer_outputs=[output]
        )


def _on_loopback() -> None:
    """KServe's REST server listens on 0.0.0.0 whatever it is told; keep it on 127.0.0.1."""
    init = rest_server.RESTServer.__init__

    def loopback_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.config.host = "127.0.0.1"

    rest_server.RESTServer.__init__ = loopback_init


if __name__ == "__main__":
    _on_loopback()
    parser = argparse.ArgumentParser(parents=[model_server.parser], conflict_handler="resolve")
    parser.add_argument("--model_path", required=True)
    args, _ = parser.parse_known_args()
    model = OnnxModel(args.model_name, args.model_path)
    model.load()
    ModelServer().start([model])
