"""MADE (Germain et al. 2015): an autoregressive network whose output i sees inputs < i only.

Masks come from degrees: input i has degree i (1..D, or D..1 with ``reverse``), hidden units
cycle through 1..D-1, and a connection exists where the receiving degree is at least (hidden) or
strictly above (output) the sending one. A context vector (from the encoder) enters the first
hidden layer unmasked, since it does not depend on z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    mask: torch.Tensor  # buffer

    def __init__(self, d_in: int, d_out: int, mask: torch.Tensor):
        super().__init__(d_in, d_out)
        self.register_buffer("mask", mask.float(), persistent=False)  # (d_out, d_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """z (..., D) [+ context (..., H)] -> ``n_out`` tensors of (..., D), each autoregressive in z."""

    order: torch.Tensor  # buffer

    def __init__(self, dim: int, hidden: int, context_dim: int = 0, n_out: int = 2, reverse: bool = False):
        super().__init__()
        self.dim, self.n_out = dim, n_out
        deg_in = torch.arange(1, dim + 1)
        if reverse:
            deg_in = deg_in.flip(0)
        self.register_buffer("order", deg_in, persistent=False)  # (D,) degree of each input
        deg_h = torch.arange(hidden) % max(dim - 1, 1) + 1 if dim > 1 else torch.zeros(hidden, dtype=torch.long)
        mask_in = deg_h[:, None] >= deg_in[None, :]  # (hidden, D)
        mask_h = deg_h[:, None] >= deg_h[None, :]  # (hidden, hidden)
        mask_out = (deg_in[:, None] > deg_h[None, :]).repeat(n_out, 1)  # (n_out*D, hidden)
        self.inp = MaskedLinear(dim, hidden, mask_in)
        self.ctx = nn.Linear(context_dim, hidden, bias=False) if context_dim else None
        self.mid = MaskedLinear(hidden, hidden, mask_h)
        self.out = MaskedLinear(hidden, n_out * dim, mask_out)
        nn.init.normal_(self.out.weight, std=1e-3)  # start near a constant map: the flow begins near identity
        nn.init.zeros_(self.out.bias)

    def forward(self, z: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        h = self.inp(z)  # (..., hidden)
        if self.ctx is not None and context is not None:
            h = h + self.ctx(context)  # context (B, H) broadcasts over leading sample dims
        h = self.mid(F.elu(h))
        return self.out(F.elu(h)).chunk(self.n_out, dim=-1)  # n_out x (..., D)
