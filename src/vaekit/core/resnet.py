"""Residual convolutional encoder and decoder (``model.arch = "resnet"``).

Each entry of ``channels`` is one resolution: the encoder halves H and W with a stride-2 conv into
that width, then applies ``blocks`` residual blocks; the decoder mirrors it with transposed
convolutions (output_padding recovers odd sizes, so 28x28, 32x32 and 64x64 all round-trip).
Residual branches end in a zero-initialised conv, so every block starts as the identity.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaekit.core.networks import activation, check_halvings, conv_sizes, up_conv


class ResBlock(nn.Module):
    """x + conv3x3(act(conv3x3(act(x)))), pre-activation, width kept."""

    def __init__(self, width: int, act: str, dropout: float):
        super().__init__()
        layers: list[nn.Module] = [activation(act), nn.Conv2d(width, width, 3, padding=1), activation(act)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        last = nn.Conv2d(width, width, 3, padding=1)
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)
        self.branch = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)  # (B, W, H, W)


class ResNetEncoder(nn.Module):
    def __init__(
        self,
        data_shape: tuple[int, int, int],
        channels: tuple[int, ...],
        blocks: int,
        out_dim: int,
        act: str,
        dropout: float,
        cond_dim: int = 0,
    ):
        super().__init__()
        c, h, w = data_shape
        check_halvings(h, w, len(channels))
        layers: list[nn.Module] = []
        for c_in, c_out in zip((c, *channels[:-1]), channels):
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1))
            layers += [ResBlock(c_out, act, dropout) for _ in range(blocks)]
        self.body = nn.Sequential(*layers, activation(act), nn.Flatten())
        n_flat = channels[-1] * math.prod(conv_sizes(h, w, len(channels))[-1])  # by arithmetic: no forward pass
        self.head = nn.Linear(n_flat + cond_dim, out_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)  # (B, F)
        if c is not None:
            h = torch.cat([h, c], -1)  # (B, F + cond_dim)
        return self.head(h)  # (B, out_dim)


class ResNetDecoder(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        channels: tuple[int, ...],
        blocks: int,
        out_shape: tuple[int, ...],
        act: str,
        dropout: float,
    ):
        super().__init__()
        c_out, h, w = out_shape
        sizes = check_halvings(h, w, len(channels))  # [(H, W), ..., (h0, w0)]
        rev = list(reversed(channels))  # widest first
        self.start = (rev[0], *sizes[-1])
        self.fc = nn.Linear(latent_dim, math.prod(self.start))
        layers: list[nn.Module] = []
        widths = [*rev, rev[-1]]
        for i in range(len(channels)):
            layers += [ResBlock(widths[i], act, dropout) for _ in range(blocks)]
            layers += [activation(act), up_conv(widths[i], widths[i + 1], sizes[-1 - i], sizes[-2 - i])]
        self.body = nn.Sequential(*layers, activation(act))
        self.head = nn.Conv2d(widths[-1], c_out, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], *self.start)  # (B, C0, h0, w0)
        return self.head(self.body(h))  # (B, P*C, H, W)
