"""Math and modules: distributions, likelihoods, priors, posteriors, networks, the VAE, bounds."""

from vaekit.core.build import build_model
from vaekit.core.elbo import ELBOTerms, elbo, iwae_log_weights, log_mean_exp
from vaekit.core.vae import VAE

__all__ = ["VAE", "ELBOTerms", "build_model", "elbo", "iwae_log_weights", "log_mean_exp"]
