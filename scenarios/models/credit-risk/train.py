"""Trains the credit-risk model with PyTorch and writes `model.safetensors`.

Needs `torch`, `numpy` and `safetensors` (not installable in the harness's CI; the checked-in
weights come from `generate.py`, which trains the same network on the same data with numpy).
After retraining, refresh the expected outputs: `python generate.py --samples-only`.
"""

import torch
from safetensors.torch import save_file

from generate import EPOCHS, LEARNING_RATE, SEED, synthetic_applicants
from model import CreditRiskMLP


def main() -> None:
    torch.manual_seed(SEED)
    x, y = (torch.from_numpy(a).float() for a in synthetic_applicants())
    model = CreditRiskMLP()
    optimiser = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.BCELoss()
    for _ in range(EPOCHS):
        optimiser.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimiser.step()
    print(f"final training loss {loss.item():.4f}")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, "model.safetensors")


if __name__ == "__main__":
    main()
