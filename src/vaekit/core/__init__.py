"""Math and modules: distributions, likelihoods, priors, posteriors, networks, the VAE, objectives."""

from vaekit.core.build import build_model
from vaekit.core.objectives import ELBOTerms, elbo, iwae_log_weights, log_mean_exp
from vaekit.core.vae import VAE

__all__ = ["VAE", "ELBOTerms", "build_model", "elbo", "iwae_log_weights", "log_mean_exp"]
