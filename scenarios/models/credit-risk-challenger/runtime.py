"""MLServer runtime for the credit-risk model: a numpy forward pass, no PyTorch needed.

Ships in the artifact folder next to model-settings.json so MLServer's standard image
(seldonio/mlserver, which has numpy) can serve the model on any Seldon Core v2 cluster.
The arithmetic mirrors generate.py: float64 over the stored float32 weights, output rounded
to float32, so served outputs match samples.json to about one float32 ulp.
"""

import json
import struct

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

INPUT, OUTPUT, N_FEATURES = "features", "default_probability", 8
LAYERS = ("net.0", "net.2", "net.4")  # nn.Sequential indices of the Linear layers in model.py


def read_safetensors(path):
    """Float32 tensors by name from a safetensors file (the format is an 8-byte length, JSON, raw data)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} has dtype {info['dtype']}, expected F32")
        start, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"]).astype(np.float64)
    return tensors


class CreditRiskRuntime(MLModel):
    """Serves `default_probability` [N, 1] FP32 for `features` [N, 8] FP32."""

    async def load(self) -> bool:
        path = await get_model_uri(self._settings)
        self._weights = read_safetensors(path)
        missing = [f"{l}.{p}" for l in LAYERS for p in ("weight", "bias") if f"{l}.{p}" not in self._weights]
        if missing:
            raise ValueError(f"{path}: missing tensors {missing}")
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        names = [i.name for i in payload.inputs]
        if names != [INPUT]:
            raise InferenceError(f"expected exactly one input named {INPUT!r}, got {names}")
        request_input = payload.inputs[0]
        if request_input.datatype != "FP32":
            raise InferenceError(f"input {INPUT!r} must have datatype FP32, got {request_input.datatype}")
        shape = list(request_input.shape)
        if len(shape) != 2 or shape[1] != N_FEATURES:
            raise InferenceError(f"input {INPUT!r} must have shape [-1, {N_FEATURES}], got {shape}")
        try:
            h = NumpyCodec.decode_input(request_input).astype(np.float64).reshape(shape)
        except ValueError as e:
            raise InferenceError(f"input {INPUT!r}: {e}") from e
        for i, layer in enumerate(LAYERS):
            h = h @ self._weights[f"{layer}.weight"].T + self._weights[f"{layer}.bias"]
            if i < len(LAYERS) - 1:
                h = np.maximum(h, 0)
        probability = (1 / (1 + np.exp(-h))).astype(np.float32)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output(OUTPUT, probability)],
        )
