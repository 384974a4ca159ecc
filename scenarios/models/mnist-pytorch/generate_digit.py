"""Writes samples.json for Seldon's mnist-pytorch sample: one hand-drawn digit "1" (no dataset needed).

    python generate_digit.py

The image is 28x28 FP32 in [0, 1] (torchvision `ToTensor` convention, white stroke on black),
drawn as an anti-aliased slanted bar of MNIST-like proportions: about 20 px tall, centred. The
pixel value is 1 inside the stroke and fades linearly to 0 over one pixel at its edge. It is
deterministic (no randomness), standard library only.

The exact outputs of the model are not known here (it only runs on Triton in a real cluster),
so the sample checks the classification: the largest of the 10 logits in `y__0` must be at
index 1.
"""

import json
import math
import re
from pathlib import Path

SIZE = 28
TOP, BOTTOM = (5.5, 15.0), (21.5, 13.0)  # (row, column) of the stroke's end points
HALF_WIDTH = 1.3  # pixels either side of the centre line


def distance_to_stroke(r: float, c: float) -> float:
    (r0, c0), (r1, c1) = TOP, BOTTOM
    dr, dc = r1 - r0, c1 - c0
    t = max(0.0, min(1.0, ((r - r0) * dr + (c - c0) * dc) / (dr * dr + dc * dc)))
    return math.hypot(r - (r0 + t * dr), c - (c0 + t * dc))


def digit_one():
    pixels = []
    for row in range(SIZE):
        for col in range(SIZE):
            d = distance_to_stroke(row + 0.5, col + 0.5) - HALF_WIDTH
            pixels.append(round(max(0.0, min(1.0, 1.0 - d)), 4))
    return pixels


def main() -> None:
    pixels = digit_one()
    doc = {
        "model": "mnist-pytorch",
        "generated_by": "generate_digit.py (anti-aliased stroke, no dataset)",
        "notes": "Only the class is checked: argmax of y__0 must be 1. Pixels are in [0, 1] (ToTensor convention).",
        "tolerance": {"relative": 1e-6, "absolute": 1e-9},
        "samples": [
            {
                "name": "digit-one",
                "inputs": [{"name": "x__0", "datatype": "FP32", "shape": [1, 1, SIZE, SIZE], "data": pixels}],
                "expected_argmax": {"output": "y__0", "index": 1},
            }
        ],
    }
    path = Path(__file__).resolve().parent / "samples.json"
    text = json.dumps(doc, indent=2)
    text = re.sub(r"\[[^\[\]{}]*\]", lambda m: json.dumps(json.loads(m.group(0))), text)
    # One line per image row keeps the file reviewable.
    rows = ",\n".join(
        "            " + ", ".join(str(v) for v in pixels[r * SIZE : (r + 1) * SIZE]) for r in range(SIZE)
    )
    text = text.replace(json.dumps(pixels), "[\n" + rows + "\n          ]")
    path.write_text(text + "\n")
    for row in range(SIZE):  # a preview, so a human can see what was drawn
        print("".join(" .:-=+*#%@"[min(9, int(v * 9.99))] for v in pixels[row * SIZE : (row + 1) * SIZE]))


if __name__ == "__main__":
    main()
