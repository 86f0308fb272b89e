"""The condition of a conditional VAE: labels (one-hot) or any covariate vector.

``Condition`` turns what the user passes (integer labels (B,), or float covariates (B, C)) into
the (B, C) float tensor that the encoder and decoder read beside x and z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.errors import ModelError


class Condition(nn.Module):
    """Integer labels become one-hot vectors of ``dim`` classes; float vectors (B, dim) pass as they are."""

    def __init__(self, dim: int):
        super().__init__()
        if dim < 1:
            raise ModelError(f"a conditional model needs at least one condition dimension, got {dim}")
        self.dim = dim

    def forward(self, y: torch.Tensor | int, n: int, device: torch.device | None = None) -> torch.Tensor:
        """(n, dim) float; an int (or 0-d tensor) is one label repeated n times."""
        y = torch.as_tensor(y, device=device)
        if y.dim() == 0:
            y = y.expand(n)  # (n,)
        if not torch.is_floating_point(y):
            if y.dim() != 1 or y.shape[0] != n:
                raise ModelError(f"labels must have shape ({n},), got {tuple(y.shape)}")
            if bool(((y < 0) | (y >= self.dim)).any()):
                raise ModelError(f"labels must be in 0..{self.dim - 1} for this conditional model, got {y.tolist()[:8]}")
            return F.one_hot(y, self.dim).float()  # (n, dim)
        if y.shape != (n, self.dim):
            raise ModelError(
                f"a covariate condition must have shape ({n}, {self.dim}), got {tuple(y.shape)}; "
                "pass integer labels for a class-conditional model"
            )
        return y

    def default(self, n: int, device: torch.device | None = None) -> torch.Tensor:
        """Labels 0, 1, ..., dim-1, 0, 1, ... (n,): what ``sample`` draws when no label is given."""
        return torch.arange(n, device=device) % self.dim
