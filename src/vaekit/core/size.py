"""How big a model is before it is built: parameters counted on torch's ``meta`` device.

``model.hidden = [10**9]`` would otherwise allocate until the kernel kills the process. The count
comes from building the model on ``meta`` (shapes only, no memory), so it is exact for every part
without a second formula per architecture to keep in step.
"""

from __future__ import annotations

import math

import torch

from vaekit.config import ModelConfig
from vaekit.errors import ModelError
from vaekit.resources import memory_limit

BYTES_PER_PARAMETER_TRAINING = 4 * 5  # float32 weights, gradients, two Adam moments, the best copy
BYTES_PER_PARAMETER_INFERENCE = 4 * 2  # the weights, and the file they are read from
BYTES_PER_INPUT_VALUE = 4 * 16  # float32 input, its likelihood parameters, activations and their gradients: a floor


def parameter_count(cfg: ModelConfig, data_shape: tuple[int, ...]) -> int:
    """Number of parameters (and buffers) of the model ``cfg`` builds for ``data_shape``."""
    from vaekit.core.build import build_model

    with torch.device("meta"):
        model = build_model(cfg, data_shape)
    return sum(t.numel() for t in model.parameters()) + sum(t.numel() for t in model.buffers())


def check_model_fits(cfg: ModelConfig, data_shape: tuple[int, ...], *, training: bool, batch_size: int = 0) -> int:
    """The parameter count; a ModelError with the numbers when the model (and, given ``batch_size``,
    one training batch through it) cannot fit in memory."""
    limit = memory_limit()
    batch = batch_size * math.prod(data_shape) * BYTES_PER_INPUT_VALUE
    if batch > limit:
        raise ModelError(
            f"a batch of {batch_size} examples of shape {tuple(data_shape)} needs about {_gb(batch)} to train on, "
            f"more than this machine's {_gb(limit)}; lower train.batch_size or data.image_size"
        )
    n = parameter_count(cfg, data_shape)
    need = n * (BYTES_PER_PARAMETER_TRAINING if training else BYTES_PER_PARAMETER_INFERENCE) + batch
    if need > limit:
        widths = f"model.hidden {list(cfg.hidden)}" if cfg.arch == "mlp" else f"model.channels {list(cfg.channels)}"
        raise ModelError(
            f"this model has {n:,} parameters: {'training' if training else 'loading'} it needs about "
            f"{_gb(need)} of memory and this machine allows {_gb(limit)}; use a smaller model ({widths}, "
            f"model.latent_dim {cfg.latent_dim})"
        )
    return n


def _gb(n: int) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"
