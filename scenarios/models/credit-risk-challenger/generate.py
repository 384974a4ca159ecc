"""Deterministic generator for the credit-risk challenger (Python 3.9+ and numpy only).

    python generate.py                 # train, write model.safetensors and samples.json
    python generate.py --samples-only  # keep model.safetensors, refresh samples.json

The challenger is credit-risk's network and training (../credit-risk/generate.py) with another
initialisation and data seed, so it answers the same requests with different numbers: an
Experiment's answers can then be attributed to the candidate that served them by their values
alone. The requests in samples.json are credit-risk's own (same names, same inputs), so one
request has a known answer from each candidate.
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "credit-risk"))
import generate as base  # noqa: E402  (credit-risk's generator: network, training, file formats)

CHALLENGER_SEED = 20250801
NAME = "credit-risk-challenger"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples-only", action="store_true", help="keep model.safetensors, only refresh samples.json")
    args = parser.parse_args()
    model_file, samples_file = HERE / "model.safetensors", HERE / "samples.json"
    if not args.samples_only:
        request_seed = base.SEED
        base.SEED = CHALLENGER_SEED  # training data and initial weights only
        weights = base.train()
        base.SEED = request_seed  # the requests stay credit-risk's
        base.write_safetensors(model_file, weights)
    base.SAMPLES_FILE = samples_file
    base.write_samples(base.read_safetensors(model_file))
    doc = json.loads(samples_file.read_text())
    doc["model"] = NAME
    doc["generated_by"] = "generate.py (credit-risk's generator, seed %d; float64 forward pass over model.safetensors, rounded to float32)" % CHALLENGER_SEED
    text = json.dumps(doc, indent=2)
    import re

    text = re.sub(r"\[[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m.group(0))), text)
    samples_file.write_text(text + "\n")
    print(f"wrote {samples_file.name}" + ("" if args.samples_only else f" and {model_file.name}"))


if __name__ == "__main__":
    main()
