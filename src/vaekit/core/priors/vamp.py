"""The VampPrior: the posterior at learned pseudo-inputs (Tomczak & Welling 2018)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.distributions import Categorical, Distribution, MixtureSameFamily, MultivariateNormal, Normal

from vaekit.config_checks import integer
from vaekit.errors import ModelError
from vaekit.registry import PRIORS


@dataclass(frozen=True)
class VampOptions:
    components: int = 10  # K pseudo-inputs

    def __post_init__(self) -> None:
        integer("model.prior.components", self.components, 1)


@PRIORS.register("vamp", VampOptions)
class VampPrior(nn.Module):
    """p(z) = 1/K sum_k q(z | u_k): the posterior at K learned pseudo-inputs u_k."""

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...], options: VampOptions = VampOptions()):
        super().__init__()
        components = options.components
        self.latent_dim = latent_dim
        center = 0.5 if len(data_shape) == 3 else 0.0  # images live in [0, 1]; tables are standardised
        self.pseudo_inputs = nn.Parameter(center + 0.05 * torch.randn(components, *data_shape))  # (K, *data_shape)
        self._encode: Any = None

    def attach(self, vae: nn.Module) -> None:
        if getattr(vae, "condition", None) is not None:
            raise ModelError("model.prior='vamp' cannot be combined with model.conditional: use 'normal' or 'mixture'")
        self._encode = vae.encode  # a bound method, not a submodule: the encoder's weights stay where they are

    def components(self) -> Distribution:
        if self._encode is None:
            raise ModelError("a VampPrior must be attached to its VAE before use")
        qu = self._encode(self.pseudo_inputs)  # batch shape (K,)
        if not (isinstance(qu, MultivariateNormal) or isinstance(getattr(qu, "base_dist", None), Normal)):
            raise ModelError("model.prior='vamp' needs a Gaussian posterior: model.posterior 'diagonal' or 'full'")
        return qu

    def forward(self) -> Distribution:
        qu = self.components()
        k = self.pseudo_inputs.shape[0]
        mix = Categorical(logits=torch.zeros(k, device=self.pseudo_inputs.device), validate_args=False)
        return MixtureSameFamily(mix, qu, validate_args=False)

    def sample_latent(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        from vaekit.core.priors import draw_component

        k_all = self.pseudo_inputs.shape[0]
        k = torch.randint(0, k_all, (n,), generator=generator, device=self.pseudo_inputs.device)  # (n,)
        return draw_component(self.components(), k, temperature, generator)
