"""MLServer runtime for the loan-decision model: a threshold policy over credit-risk's output.

Ships in the artifact folder next to model-settings.json so MLServer's standard image
(seldonio/mlserver, which has numpy) serves it on any Seldon Core v2 cluster. The module has its
own name, not `runtime.py`: one MLServer process serves every model of a Seldon Server, and a second
module called `runtime` would be the first model's (Python caches modules by name). It takes
`default_probability` [N, 1] FP32 (what credit-risk answers) and returns `decision` [N, 1] INT32:
0 = approve (p < approve_below), 1 = refer to an underwriter, 2 = decline (p >= decline_from).
The thresholds are `parameters.extra` of model-settings.json. The comparison is made in float64
over the float32 input, exactly as generate.py computes the expected outputs.
"""

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse

INPUT, OUTPUT = "default_probability", "decision"
APPROVE, REFER, DECLINE = 0, 1, 2


class LoanDecisionRuntime(MLModel):
    """Serves `decision` [N, 1] INT32 for `default_probability` [N, 1] FP32."""

    async def load(self) -> bool:
        extra = (self._settings.parameters.extra if self._settings.parameters else None) or {}
        try:
            self._approve_below = float(extra["approve_below"])
            self._decline_from = float(extra["decline_from"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"model-settings.json: parameters.extra needs numeric approve_below and decline_from ({e})") from e
        if not 0 <= self._approve_below <= self._decline_from <= 1:
            raise ValueError("model-settings.json: need 0 <= approve_below <= decline_from <= 1")
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        names = [i.name for i in payload.inputs]
        if names != [INPUT]:
            raise InferenceError(f"expected exactly one input named {INPUT!r}, got {names}")
        request_input = payload.inputs[0]
        if request_input.datatype != "FP32":
            raise InferenceError(f"input {INPUT!r} must have datatype FP32, got {request_input.datatype}")
        shape = list(request_input.shape)
        if len(shape) != 2 or shape[1] != 1:
            raise InferenceError(f"input {INPUT!r} must have shape [-1, 1], got {shape}")
        try:
            p = NumpyCodec.decode_input(request_input).astype(np.float64).reshape(shape)
        except ValueError as e:
            raise InferenceError(f"input {INPUT!r}: {e}") from e
        decision = np.where(p < self._approve_below, APPROVE, np.where(p < self._decline_from, REFER, DECLINE)).astype(np.int32)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output(OUTPUT, decision)],
        )
