"""The financial team's credit-risk model as a PyTorch module.

Eight standardised applicant features in, the probability that the applicant defaults out.
The state-dict keys (`net.0.weight`, `net.0.bias`, `net.2.*`, `net.4.*`) are the tensor names
in `model.safetensors`; `runtime.py` (MLServer) and the harness's Rust reference read them by
these names, so renaming a layer here means changing those readers too.
"""

import torch
from torch import nn

# Order of the columns of the `features` input tensor (each a z-score, see README.md).
FEATURES = (
    "income",
    "debt_to_income",
    "credit_utilization",
    "delinquencies_24m",
    "loan_amount",
    "loan_term_months",
    "employment_years",
    "open_credit_lines",
)


class CreditRiskMLP(nn.Module):
    """8 -> 16 -> 8 -> 1 multilayer perceptron with ReLU hidden layers."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(len(FEATURES), 16),
            nn.ReLU(),
            nn.Linear(16, 8),
            nn.ReLU(),
            nn.Linear(8, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Returns `default_probability`, shape [batch, 1]."""
        return torch.sigmoid(self.net(features))
