"""Deterministic generator for the loan-decision samples (Python 3.9+ and numpy only).

    python generate.py

Writes two files from model-settings.json (the thresholds) and ../credit-risk/samples.json:
- samples.json: the decision model alone, fed probabilities (threshold edges included);
- pipeline-samples.json: the two-step pipeline credit-risk -> loan-decision, fed credit-risk's own
  sample inputs; each expected decision is this policy applied to credit-risk's expected
  `default_probability`, so the file is derived, never hand-written.
The comparison is float64 over the float32 input, as loan_decision_runtime.py and the embedded data plane do.
A composed sample whose probability lies within MARGIN of a threshold is refused: credit-risk's
answers agree only to about one float32 ulp, and the pipeline must not hinge on that last bit.
"""

import json
import re
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SETTINGS_FILE = HERE / "model-settings.json"
SAMPLES_FILE = HERE / "samples.json"
PIPELINE_SAMPLES_FILE = HERE / "pipeline-samples.json"
CREDIT_RISK_SAMPLES = HERE.parent / "credit-risk" / "samples.json"
INPUT, OUTPUT = "default_probability", "decision"
MARGIN = 1e-3

# Probabilities for the model alone: clear cases and both thresholds' edges as float32 sees them.
PROBABILITIES = {
    "clear-approve": [[0.01]],
    "clear-decline": [[0.97]],
    "refer-band": [[0.4]],
    "approve-threshold-edges": [[0.0], [0.099999], [0.1], [0.100001]],
    "decline-threshold-edges": [[0.699999], [0.7], [0.700001], [1.0]],
}


def thresholds():
    extra = json.loads(SETTINGS_FILE.read_text())["parameters"]["extra"]
    return float(extra["approve_below"]), float(extra["decline_from"])


def decide(p32, approve_below, decline_from):
    """0 approve, 1 refer, 2 decline; float64 comparison over the float32 probability."""
    p = np.asarray(p32, dtype=np.float32).astype(np.float64)
    return np.where(p < approve_below, 0, np.where(p < decline_from, 1, 2)).astype(np.int32)


def f32_text(value) -> float:
    """Shortest decimal that parses back to the same float32 (as a JSON number)."""
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))


def write(path: Path, doc) -> None:
    text = json.dumps(doc, indent=2)
    # Keep each tensor's shape and data on one line so the file stays readable.
    text = re.sub(r"\[[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m.group(0))), text)
    path.write_text(text + "\n")


def main() -> None:
    approve_below, decline_from = thresholds()
    samples = []
    for name, rows in PROBABILITIES.items():
        p = np.asarray(rows, dtype=np.float32)
        d = decide(p, approve_below, decline_from)
        samples.append({
            "name": name,
            "inputs": [{"name": INPUT, "datatype": "FP32", "shape": list(p.shape), "data": [f32_text(v) for v in p.ravel()]}],
            "outputs": [{"name": OUTPUT, "datatype": "INT32", "shape": list(d.shape), "data": [int(v) for v in d.ravel()]}],
        })
    write(SAMPLES_FILE, {
        "model": "loan-decision",
        "generated_by": "generate.py (thresholds from model-settings.json)",
        "tolerance": {"relative": 0, "absolute": 0},
        "samples": samples,
    })

    credit = json.loads(CREDIT_RISK_SAMPLES.read_text())
    composed = []
    for s in credit["samples"]:
        (out,) = [o for o in s["outputs"] if o["name"] == INPUT]
        p = np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])
        near = [float(v) for v in p.ravel() if min(abs(v - approve_below), abs(v - decline_from)) < MARGIN]
        if near:
            raise SystemExit(f"credit-risk sample {s['name']}: probabilities {near} are within {MARGIN} of a threshold")
        d = decide(p, approve_below, decline_from)
        composed.append({
            "name": s["name"],
            "inputs": s["inputs"],
            "outputs": [{"name": OUTPUT, "datatype": "INT32", "shape": list(d.shape), "data": [int(v) for v in d.ravel()]}],
        })
    write(PIPELINE_SAMPLES_FILE, {
        "model": "credit-risk-decision (pipeline: credit-risk -> loan-decision)",
        "generated_by": "generate.py (credit-risk's samples.json through the loan-decision policy)",
        "tolerance": {"relative": 0, "absolute": 0},
        "samples": composed,
    })
    print(f"wrote {SAMPLES_FILE.name} and {PIPELINE_SAMPLES_FILE.name}")


if __name__ == "__main__":
    main()
