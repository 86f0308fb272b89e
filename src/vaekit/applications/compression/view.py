"""What bits-back coding needs from a VAE, read from its parts: the Gaussian links of the latent
chain and the likelihood's parameters, all computed in float64 on a private copy of the model.

Supported: a diagonal Gaussian posterior with the standard normal prior (one latent layer), or
stacked layers (``model.latent_dims``: Gaussian links up and down); a Bernoulli likelihood
(binary data) or a discretized logistic one (8-bit data). Anything else is a CompressionError
saying what to use instead.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
from torch.distributions import Independent

from vaekit.applications.compression.errors import CompressionError
from vaekit.core.hierarchy import LadderPosterior, LadderPrior
from vaekit.core.likelihoods.bernoulli import BernoulliLikelihood
from vaekit.core.likelihoods.dlogistic import DiscretizedLogisticLikelihood
from vaekit.core.posteriors import DiagonalGaussian
from vaekit.core.priors import StandardNormal
from vaekit.core.vae import VAE

Link = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # z (n, d_in) -> mu, sigma (n, d_out)


@dataclass
class CodingView:
    """The latent chain z_1 .. z_L (bottom first) and the likelihood, as float64 callables."""

    dims: tuple[int, ...]
    encode: Link  # x (n, *shape) -> q(z_1 | x)
    up: list[Link]  # up[i]: z_{i+1} -> q(z_{i+2} | z_{i+1})
    down: list[Link]  # down[i]: z_{i+2} -> p(z_{i+1} | z_{i+2})
    decode: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]  # z (n, sum dims) -> likelihood parameters
    likelihood: str  # "bernoulli" or "dlogistic"
    levels: int  # values per data element: 2, or the discretized logistic's bins

    @property
    def latents(self) -> int:
        return sum(self.dims)


def coding_view(model: VAE) -> CodingView:
    """A float64 view of ``model`` for lossless coding, or a CompressionError naming the unsupported part."""
    if getattr(model, "conditional", False):
        raise CompressionError("lossless compression of a conditional model is not supported: use an unconditional run")
    likelihood, levels = _likelihood(model.likelihood)
    m = copy.deepcopy(model).to(torch.float64).eval()
    post, prior = m.posterior, m.prior
    if isinstance(post, DiagonalGaussian) and isinstance(prior, StandardNormal):
        dims: tuple[int, ...] = (post.latent_dim,)
        up: list[Link] = []
        down: list[Link] = []

        def encode(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            base: Any = cast(Independent, m.encode(x)).base_dist  # a Normal
            return base.loc, base.scale

    elif isinstance(post, LadderPosterior) and isinstance(prior, LadderPrior):
        dims = tuple(post.dims)
        up = cast(list[Link], list(post.layers))
        down = cast(list[Link], list(prior.layers)[::-1])  # the prior's layers run top-down; down[i] gives p(z_{i+1} | z_{i+2})

        def encode(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return cast(Any, m.encode(x)).first

    else:
        raise CompressionError(
            f"lossless compression needs a diagonal Gaussian posterior with the standard normal prior, or stacked "
            f"Gaussian layers (model.latent_dims); this model has {type(model.posterior).__name__} with "
            f"{type(model.prior).__name__}: train with model.posterior='diagonal' and model.prior='normal'"
        )

    def decode(z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        base: Any = cast(Independent, m.decode(z)).base_dist
        if likelihood == "bernoulli":
            return (base.logits,)
        return base.loc, base.log_scale

    return CodingView(dims, encode, up, down, decode, likelihood, levels)


def _likelihood(lik: torch.nn.Module) -> tuple[str, int]:
    if isinstance(lik, BernoulliLikelihood):
        return "bernoulli", 2
    if isinstance(lik, DiscretizedLogisticLikelihood):
        return "dlogistic", int(lik.bins)
    raise CompressionError(
        f"lossless compression codes binary data with a Bernoulli likelihood or 8-bit data with a discretized "
        f"logistic one; this model's likelihood is {type(lik).__name__}: train with model.likelihood = "
        "'bernoulli' (binary images) or 'dlogistic', or use --lossy"
    )


def to_levels(x: torch.Tensor, levels: int) -> np.ndarray:
    """x (N, *shape) in [0, 1] on the grid k / (levels - 1) -> the integers k (int64), or an error."""
    if levels > 2**16:
        raise CompressionError(f"a discretized logistic with {levels} bins is too fine to code: use at most 65536")
    scaled = x.detach().cpu().to(torch.float32) * (levels - 1)  # k / (levels - 1) * (levels - 1) is within 1e-4 of k
    k = torch.round(scaled)
    off = ~((scaled - k).abs() <= 1e-3) | (k < 0) | (k > levels - 1)  # NaN fails the first test
    if off.any():
        i = int(off.reshape(len(k), -1).any(1).nonzero()[0, 0])
        what = "binary (0 or 1)" if levels == 2 else f"{levels}-level (k / {levels - 1})"
        hint = (
            "binarise it (a binarized source, or data.binarize = 'static')"
            if levels == 2
            else "pass 8-bit images (mnist, a folder of PNGs)"
        )
        raise CompressionError(f"this model codes {what} values, but example {i} has others: {hint}")
    return k.to(torch.int64).numpy()


def from_levels(k: np.ndarray, levels: int) -> torch.Tensor:
    """The float32 values vaekit's loaders give for integer levels: k / (levels - 1)."""
    return torch.from_numpy(k).to(torch.float32).div_(float(levels - 1))
