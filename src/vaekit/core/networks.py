"""Encoder and decoder networks: plain deterministic maps, no distributions here.

An encoder maps x (B, *data_shape) -> h (B, out_dim); a decoder maps z (B, latent_dim) ->
h (B, P*C, H, W) for images or (B, P*D) for tables, where P is the likelihood's parameter count.
A conditional encoder takes a condition c (B, cond_dim) too: the MLP reads it beside the pixels,
the conv encoder beside its flattened features. Decoders need nothing special: the VAE feeds them
[z, c] and builds them with ``latent_dim + cond_dim`` inputs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


def activation(name: str) -> nn.Module:
    return _ACTIVATIONS[name]()


def _mlp(widths: list[int], act: str, dropout: float) -> list[nn.Module]:
    """Linear+activation(+dropout) for each consecutive pair of widths (no final layer)."""
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(w_in, w_out), activation(act)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return layers


class MLPEncoder(nn.Module):
    def __init__(
        self,
        data_shape: tuple[int, ...],
        hidden: tuple[int, ...],
        out_dim: int,
        act: str,
        dropout: float,
        cond_dim: int = 0,
    ):
        super().__init__()
        d_in = math.prod(data_shape) + cond_dim
        # Flatten stays the body's first layer so weight names match earlier checkpoints
        self.body = nn.Sequential(nn.Flatten(), *_mlp([d_in, *hidden], act, dropout))
        self.head = nn.Linear(hidden[-1] if hidden else d_in, out_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = x.flatten(1)  # (B, F)
        if c is not None:
            h = torch.cat([h, c], -1)  # (B, F + C)
        return self.head(self.body(h))  # (B, out_dim)


class MLPDecoder(nn.Module):
    def __init__(self, latent_dim: int, hidden: tuple[int, ...], out_shape: tuple[int, ...], act: str, dropout: float):
        super().__init__()
        self.out_shape = out_shape
        widths = [latent_dim, *reversed(hidden)]
        self.body = nn.Sequential(*_mlp(widths, act, dropout))
        self.head = nn.Linear(widths[-1], math.prod(out_shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(z)).view(z.shape[0], *self.out_shape)  # (B, *out_shape)


def check_halvings(h: int, w: int, n_layers: int) -> list[tuple[int, int]]:
    """conv_sizes, after checking that every layer but the last sees at least a 2x2 map."""
    sizes = conv_sizes(h, w, n_layers)
    if min(sizes[-2]) < 2:
        from vaekit.errors import ModelError

        most = sum(1 for s in conv_sizes(h, w, 64)[:-1] if min(s) >= 2)
        raise ModelError(
            f"a {h}x{w} image can be halved at most {most} times, but model.channels has "
            f"{n_layers} entries; give model.channels at most {most} widths"
        )
    return sizes


def conv_sizes(h: int, w: int, n_layers: int) -> list[tuple[int, int]]:
    """Spatial size after each stride-2 layer (k=4, p=1 floors odd sizes): [(H, W), (H/2, W/2), ...]."""
    sizes = [(h, w)]
    for _ in range(n_layers):
        h, w = h // 2, w // 2
        sizes.append((h, w))
    return sizes


def up_conv(c_in: int, c_out: int, size_in: tuple[int, int], size_out: tuple[int, int]) -> nn.ConvTranspose2d:
    """A stride-2 transposed conv (k=4, p=1) from ``size_in`` to ``size_out`` = twice it, or twice it
    plus one: output_padding recovers the odd sizes that ``conv_sizes`` floored."""
    op = (size_out[0] - 2 * size_in[0], size_out[1] - 2 * size_in[1])  # 0 or 1 per axis
    return nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, output_padding=op)


class ConvEncoder(nn.Module):
    """Stride-2 convolutions (each halves H and W) then a linear head; works for any image size."""

    def __init__(
        self,
        data_shape: tuple[int, int, int],
        channels: tuple[int, ...],
        out_dim: int,
        act: str,
        dropout: float,
        cond_dim: int = 0,
    ):
        super().__init__()
        c, h, w = data_shape
        layers: list[nn.Module] = []
        check_halvings(h, w, len(channels))
        for c_in, c_out in zip((c, *channels[:-1]), channels):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), activation(act)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers, nn.Flatten())
        n_flat = channels[-1] * math.prod(conv_sizes(h, w, len(channels))[-1])  # by arithmetic: no forward pass
        self.head = nn.Linear(n_flat + cond_dim, out_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x)  # (B, C, H, W) -> (B, F)
        if c is not None:
            h = torch.cat([h, c], -1)  # (B, F + cond_dim)
        return self.head(h)  # (B, out_dim)


class ConvDecoder(nn.Module):
    """Linear to the smallest feature map, then transposed convs that double H and W back to the
    exact input size, the last one straight into the output channels (P*C). Nothing runs at full
    resolution with many channels, where a wide last layer plus a 3x3 head would cost most of the step
    (BENCHMARKS.md, conv decoder)."""

    def __init__(self, latent_dim: int, channels: tuple[int, ...], out_shape: tuple[int, ...], act: str, dropout: float):
        super().__init__()
        c_out, h, w = out_shape
        sizes = conv_sizes(h, w, len(channels))  # [(H, W), ..., (h0, w0)]
        rev = list(reversed(channels))  # widest first
        self.start = (rev[0], *sizes[-1])
        self.fc = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), activation(act))
        layers: list[nn.Module] = []
        widths = [*rev, c_out]
        for i in range(len(channels)):
            layers.append(up_conv(widths[i], widths[i + 1], sizes[-1 - i], sizes[-2 - i]))
            if i < len(channels) - 1:  # the last layer's output is the likelihood's parameters
                layers.append(activation(act))
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], *self.start)  # (B, C0, h0, w0)
        return self.body(h)  # (B, P*C, H, W)


class PreparedInput(nn.Module):
    """An encoder whose input is first scaled to unit L2 norm per row and/or dropped out (while
    training): Mult-VAE's encoder input, so a heavy user and a light one land on the same scale
    and the model learns to fill in items it was not shown."""

    def __init__(self, encoder: nn.Module, normalize: bool, dropout: float):
        super().__init__()
        self.net = encoder
        self.normalize = normalize
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.normalize:
            x = nn.functional.normalize(x.flatten(1), dim=1).view_as(x)  # (B, *shape), unit rows
        x = self.drop(x)
        return self.net(x) if c is None else self.net(x, c)  # (B, out_dim)
