"""Discrete latents: a VQ-VAE codebook as the posterior, and a categorical code prior.

The encoder emits P vectors of size E per example (latent_dim = P * E); each is replaced by its
nearest of K codebook vectors. The codebook is not trained by gradients: it follows the encoder
outputs assigned to it by exponential moving averages (van den Oord et al. 2017, appendix), kept
in buffers so they are saved and resumed with the weights. The encoder receives the decoder's
gradient straight through the quantisation and a commitment loss beta * ||h - sg(code)||^2.

q(z|x) is a point mass on the chosen codes (log q = 0), so KL(q || p) = -log p(codes): P log K under
the uniform prior used in training. After training, ``fit_code_prior`` sets the per-position code
frequencies of the training set as the prior, which is what ``sample`` draws from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn
from torch.distributions import Distribution, constraints
from torch.types import _size

from vaekit.config_checks import integer, number
from vaekit.errors import ModelError
from vaekit.registry import POSTERIORS

if TYPE_CHECKING:
    from vaekit.core.vae import VAE


class QuantizedPosterior(Distribution):
    """A point mass at the quantised z (B, P*E), carrying the commitment loss and usage perplexity."""

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, z: torch.Tensor, codes: torch.Tensor, aux_loss: torch.Tensor, perplexity: torch.Tensor):
        self.z, self.codes = z, codes  # (B, D) straight-through, (B, P)
        self.aux_loss, self.code_perplexity = aux_loss, perplexity  # (B,), scalar
        super().__init__(z.shape[:-1], z.shape[-1:], validate_args=False)

    def rsample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        return self.z.expand(self._extended_shape(sample_shape))

    def rsample_from(self, eps: torch.Tensor) -> torch.Tensor:
        return self.z.expand(eps.shape)  # deterministic: the noise is not used

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return value.new_zeros(value.shape[:-1])  # a point mass under the counting measure on codes

    @property
    def mean(self) -> torch.Tensor:
        return self.z

    @property
    def stddev(self) -> torch.Tensor:
        return torch.zeros_like(self.z)


@dataclass(frozen=True)
class VQOptions:
    codes: int = 512  # codebook size K
    code_dim: int = 16  # size of one code vector; latent_dim / code_dim positions are quantised
    decay: float = 0.99  # EMA decay of the codebook updates
    commitment: float = 0.25  # weight of the commitment loss

    def __post_init__(self) -> None:
        integer("model.posterior.codes", self.codes, 2)
        integer("model.posterior.code_dim", self.code_dim, 1)
        number("model.posterior.decay", self.decay, 0.0, 1.0, low_open=True, high_open=True)
        number("model.posterior.commitment", self.commitment, 0.0)


@POSTERIORS.register("vq", VQOptions)
class VectorQuantizer(nn.Module):
    """A VQ-VAE codebook: each of latent_dim / code_dim encoder vectors snaps to its nearest code."""

    codebook: torch.Tensor  # buffer
    ema_count: torch.Tensor  # buffer
    ema_sum: torch.Tensor  # buffer
    initialized: torch.Tensor  # buffer

    def __init__(self, latent_dim: int, options: VQOptions = VQOptions()):
        super().__init__()
        codes, code_dim, decay, commitment = options.codes, options.code_dim, options.decay, options.commitment
        if code_dim < 1 or latent_dim % code_dim:
            raise ModelError(f"model.latent_dim ({latent_dim}) must be a multiple of model.posterior.code_dim ({code_dim})")
        self.latent_dim = self.params_out = latent_dim
        self.positions, self.code_dim, self.n_codes = latent_dim // code_dim, code_dim, codes
        self.decay, self.commitment = decay, commitment
        self.register_buffer("codebook", torch.randn(codes, code_dim))  # (K, E)
        self.register_buffer("ema_count", torch.ones(codes))  # (K,)
        self.register_buffer("ema_sum", self.codebook.clone())  # (K, E)
        self.register_buffer("initialized", torch.zeros(()))  # 1 once the codebook has seen data

    def own_prior(self) -> CodePrior:
        """The categorical code prior that goes with this codebook (uniform until fitted)."""
        return CodePrior(self.positions, self.n_codes)

    def nearest(self, h: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for every vector of h (..., E) -> (...)."""
        flat = h.reshape(-1, self.code_dim)  # (N, E)
        d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.T + self.codebook.pow(2).sum(1)  # (N, K)
        return d.argmin(1).view(h.shape[:-1])

    def forward(self, h: torch.Tensor) -> Distribution:
        b = h.shape[0]
        he = h.view(b, self.positions, self.code_dim)  # (B, P, E)
        if self.training and torch.is_grad_enabled():
            self._update(he.detach())
        codes = self.nearest(he)  # (B, P)
        q = self.codebook[codes]  # (B, P, E)
        commitment = self.commitment * (he - q).pow(2).sum((1, 2))  # (B,); q is a buffer: no gradient to it
        z = (he + (q - he).detach()).reshape(b, -1)  # straight-through: forward q, backward identity
        freq = torch.bincount(codes.flatten(), minlength=self.n_codes).float() / codes.numel()  # (K,)
        perplexity = torch.exp(-(freq * torch.log(freq.clamp_min(1e-10))).sum())
        return QuantizedPosterior(z, codes, commitment, perplexity)

    @torch.no_grad()
    def _update(self, he: torch.Tensor) -> None:
        flat = he.reshape(-1, self.code_dim)  # (N, E)
        if not bool(self.initialized):  # start the codebook on encoder outputs, not on noise
            everything = _gather_rows(flat)  # (N_global, E): the whole global batch under DDP
            pick = torch.randint(0, everything.shape[0], (self.n_codes,), device=flat.device)
            self.codebook.copy_(everything[pick])
            if _distributed():
                torch.distributed.broadcast(self.codebook, 0)  # rank 0's draw, as a single process would make
            self.ema_sum.copy_(self.codebook)
            self.ema_count.fill_(1.0)
            self.initialized.fill_(1.0)
        codes = self.nearest(flat)  # (N,)
        counts = torch.bincount(codes, minlength=self.n_codes).to(flat.dtype)  # (K,)
        sums = torch.zeros_like(self.ema_sum).index_add_(0, codes, flat)  # (K, E)
        if _distributed():
            torch.distributed.all_reduce(counts)  # every rank moves the codebook by the global batch
            torch.distributed.all_reduce(sums)
        self.ema_count.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + 1e-5) / (n + self.n_codes * 1e-5) * n  # Laplace smoothing: no division by 0
        self.codebook.copy_(self.ema_sum / smoothed[:, None])


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def _gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Every rank's rows (N_r, E), concatenated in rank order (shards may differ in size)."""
    if not _distributed():
        return x
    world = torch.distributed.get_world_size()
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world)]
    torch.distributed.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
    most = int(max(s.item() for s in sizes))
    padded = torch.cat([x, x.new_zeros(most - x.shape[0], x.shape[1])])  # (most, E)
    parts = [torch.empty_like(padded) for _ in range(world)]
    torch.distributed.all_gather(parts, padded)
    return torch.cat([p[: int(s.item())] for p, s in zip(parts, sizes)])


class CodeDistribution(Distribution):
    """Independent categoricals over the code of each position, as a distribution over z (P*E,)."""

    arg_constraints: dict = {}
    support = constraints.real_vector

    def __init__(self, logits: torch.Tensor, quantizer: VectorQuantizer):
        self.logits, self.quantizer = logits, quantizer  # (P, K)
        super().__init__(torch.Size(), torch.Size([quantizer.latent_dim]), validate_args=False)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        q = self.quantizer
        codes = q.nearest(value.reshape(*value.shape[:-1], q.positions, q.code_dim))  # (..., P)
        log_p = torch.log_softmax(self.logits, -1)  # (P, K)
        return log_p.gather(1, codes.reshape(-1, q.positions).T).T.reshape(codes.shape).sum(-1)  # (...)

    def sample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        n = math.prod(sample_shape)
        codes = torch.multinomial(torch.softmax(self.logits, -1), n, replacement=True).T  # (n, P)
        return self.quantizer.codebook[codes].reshape(*sample_shape, -1)


class CodePrior(nn.Module):
    """p(codes) = prod_p Categorical(pi_p): uniform until ``fit_code_prior`` sets it from data."""

    logits: torch.Tensor  # buffer

    def __init__(self, positions: int, codes: int):
        super().__init__()
        self.register_buffer("logits", torch.zeros(positions, codes))  # (P, K); saved with the weights
        self._quantizer: Any = None

    def attach(self, vae: nn.Module) -> None:
        if not isinstance(vae.posterior, VectorQuantizer):
            raise ModelError("the code prior belongs to model.posterior='vq'")
        object.__setattr__(self, "_quantizer", vae.posterior)  # a reference, not a submodule

    def forward(self) -> Distribution:
        return CodeDistribution(self.logits, self._quantizer)

    def sample_latent(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        probs = torch.softmax(self.logits / temperature, -1)  # (P, K)
        codes = torch.multinomial(probs, n, replacement=True, generator=generator).T  # (n, P)
        return self._quantizer.codebook[codes].reshape(n, -1)  # (n, P*E)


@torch.no_grad()
def fit_code_prior(model: VAE, x: torch.Tensor, batch_size: int = 1024, condition: torch.Tensor | None = None) -> int:
    """Set the code prior of a VQ model to the per-position code frequencies of ``x`` (N, *shape)
    (add-1/2 smoothing). Returns how many examples were counted."""
    prior, q = getattr(model, "prior", None), getattr(model, "posterior", None)
    if not isinstance(prior, CodePrior) or not isinstance(q, VectorQuantizer):
        raise ModelError("fit_code_prior needs a model with model.posterior='vq'")
    was_training = model.training
    model.eval()
    counts = torch.zeros(q.positions, q.n_codes, dtype=torch.float64)  # (P, K)
    device = prior.logits.device
    for i in range(0, x.shape[0], batch_size):
        c = None if condition is None else condition[i : i + batch_size]
        qz = cast(QuantizedPosterior, model.encode(x[i : i + batch_size].to(device), c))  # the codebook's posterior
        codes = qz.codes.cpu()  # (b, P)
        counts.scatter_add_(1, codes.T, torch.ones(codes.T.shape, dtype=torch.float64))
    prior.logits.copy_(torch.log(counts + 0.5).float())
    model.train(was_training)
    return int(x.shape[0])
