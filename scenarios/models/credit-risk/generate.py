"""Deterministic generator for the credit-risk sample model (Python 3.9+ and numpy only).

    python generate.py                 # train with numpy, write model.safetensors and samples.json
    python generate.py --samples-only  # keep model.safetensors (e.g. from train.py), refresh samples.json

Training: full-batch Adam on seeded synthetic applicants, in float64, weights stored as float32.
Expected outputs: forward pass in float64 over the stored float32 weights and the float32 inputs,
rounded to float32 -- the same arithmetic the MLServer runtime (runtime.py), the harness's Rust
reference and the embedded data plane use, so all of them agree to about one float32 ulp.
Floating-point summation order differs between BLAS builds, so retraining elsewhere may change the
last bits of the weights; the checked-in model.safetensors is the reference, and samples.json is
always computed from the file as written.
"""

import argparse
import json
import re
import struct
from pathlib import Path

import numpy as np

SEED = 20250704
EPOCHS = 400
LEARNING_RATE = 0.02
LAYERS = ("net.0", "net.2", "net.4")  # nn.Sequential indices of the Linear layers in model.py
SIZES = (8, 16, 8, 1)
HERE = Path(__file__).resolve().parent
MODEL_FILE = HERE / "model.safetensors"
SAMPLES_FILE = HERE / "samples.json"
INPUT, OUTPUT = "features", "default_probability"
RELATIVE_TOLERANCE, ABSOLUTE_TOLERANCE = 1e-6, 1e-9


def synthetic_applicants(n: int = 4096):
    """Standardised applicant features and a default label drawn from a known risk function."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, SIZES[0]))
    # income, dti, utilisation, delinquencies, amount, term, employment, credit lines
    w = np.array([-1.2, 1.0, 0.9, 1.4, 0.5, 0.3, -0.6, -0.2])
    logit = x @ w - 1.5 + 0.8 * np.maximum(x[:, 1], 0) * np.maximum(x[:, 2], 0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    return x, y[:, None]


def forward(params, x):
    """Returns the pre-activations of every layer and the output probability (float64)."""
    h, pre = np.asarray(x, dtype=np.float64), []
    for i, layer in enumerate(LAYERS):
        z = h @ np.asarray(params[f"{layer}.weight"], np.float64).T + np.asarray(params[f"{layer}.bias"], np.float64)
        pre.append((h, z))
        h = np.maximum(z, 0) if i < len(LAYERS) - 1 else z
    return pre, 1 / (1 + np.exp(-h))


def train():
    x, y = synthetic_applicants()
    rng = np.random.default_rng(SEED + 1)
    params = {}
    for layer, fan_in, fan_out in zip(LAYERS, SIZES, SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)  # PyTorch's default nn.Linear initialisation range
        params[f"{layer}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in))
        params[f"{layer}.bias"] = rng.uniform(-bound, bound, fan_out)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, EPOCHS + 1):
        pre, p = forward(params, x)
        grad_z = (p - y) / len(x)  # d(mean binary cross-entropy)/d(logit)
        grads = {}
        for i in reversed(range(len(LAYERS))):
            h_in, z = pre[i]
            if i < len(LAYERS) - 1:
                grad_z = grad_z * (z > 0)
            grads[f"{LAYERS[i]}.weight"] = grad_z.T @ h_in
            grads[f"{LAYERS[i]}.bias"] = grad_z.sum(axis=0)
            grad_z = grad_z @ params[f"{LAYERS[i]}.weight"]
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * grads[k]
            v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
            params[k] -= LEARNING_RATE * (m[k] / (1 - b1**step)) / (np.sqrt(v[k] / (1 - b2**step)) + eps)
    _, p = forward(params, x)
    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    print(f"final training loss {loss:.4f}")
    return {k: val.astype("<f4") for k, val in params.items()}


def write_safetensors(path: Path, tensors) -> None:
    """Writes float32 tensors in the safetensors format (same layout `safetensors.torch.save_file` uses)."""
    header, offset, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8-byte alignment with spaces
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def read_safetensors(path: Path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header, data = json.loads(raw[8 : 8 + n]), raw[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{path}: tensor {name} is {info['dtype']}, expected F32"
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"])
    return out


# Hand-picked applicants (z-scores in model.FEATURES order) plus one seeded batch.
APPLICANTS = {
    "average-applicant": [[0, 0, 0, 0, 0, 0, 0, 0]],
    "low-risk-applicant": [[0.9, -0.6, -0.5, -0.3, -0.2, -0.2, 0.7, 0.4]],
    "high-risk-applicant": [[-0.8, 1.1, 0.9, 1.2, 0.6, 0.5, -0.5, -0.3]],
    "thin-file-applicant": [[-0.3, 0.4, 0.6, 0.0, 0.2, 0.5, -1.8, -1.6]],
}


def f32_text(value) -> float:
    """Shortest decimal that parses back to the same float32 (as a JSON number)."""
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))


def write_samples(params) -> None:
    batches = dict(APPLICANTS)
    batches["batch-of-four"] = np.round(np.random.default_rng(SEED + 2).standard_normal((4, 8)), 2).tolist()
    samples = []
    for name, rows in batches.items():
        x = np.asarray(rows, dtype=np.float32)  # what a server decodes the FP32 request into
        _, p = forward(params, x)
        samples.append({
            "name": name,
            "inputs": [{"name": INPUT, "datatype": "FP32", "shape": list(x.shape), "data": [f32_text(v) for v in x.ravel()]}],
            "outputs": [{"name": OUTPUT, "datatype": "FP32", "shape": list(p.shape), "data": [f32_text(v) for v in p.ravel()]}],
        })
    doc = {
        "model": "credit-risk",
        "generated_by": "generate.py (float64 forward pass over model.safetensors, rounded to float32)",
        "tolerance": {"relative": RELATIVE_TOLERANCE, "absolute": ABSOLUTE_TOLERANCE},
        "samples": samples,
    }
    text = json.dumps(doc, indent=2)
    # Keep each tensor's shape and data on one line so the file stays readable.
    text = re.sub(r"\[[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m.group(0))), text)
    SAMPLES_FILE.write_text(text + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples-only", action="store_true", help="keep model.safetensors, only refresh samples.json")
    args = parser.parse_args()
    if not args.samples_only:
        write_safetensors(MODEL_FILE, train())
    write_samples(read_safetensors(MODEL_FILE))
    print(f"wrote {SAMPLES_FILE.name}" + ("" if args.samples_only else f" and {MODEL_FILE.name}"))


if __name__ == "__main__":
    main()
