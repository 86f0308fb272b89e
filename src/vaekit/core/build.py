"""Build a VAE from its ModelConfig and the data shape: the saved config rebuilds the model."""

from __future__ import annotations

from vaekit.config import ModelConfig
from vaekit.core.likelihoods import build_likelihood
from vaekit.core.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from vaekit.core.posteriors import DiagonalGaussian
from vaekit.core.priors import StandardNormal
from vaekit.core.vae import VAE
from vaekit.errors import ModelError


def build_model(cfg: ModelConfig, data_shape: tuple[int, ...]) -> VAE:
    data_shape = tuple(int(s) for s in data_shape)
    if cfg.latent_dim < 1:
        raise ModelError(f"model.latent_dim must be at least 1, got {cfg.latent_dim}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ModelError(f"model.dropout must be in [0, 1), got {cfg.dropout}")
    likelihood = build_likelihood(cfg.likelihood, data_shape, scale=cfg.scale, bins=cfg.dlogistic_bins)
    posterior = DiagonalGaussian(cfg.latent_dim)
    prior = StandardNormal(cfg.latent_dim)
    p = likelihood.params_per_element
    if cfg.arch == "mlp":
        out_shape = (p * data_shape[0], *data_shape[1:])
        encoder = MLPEncoder(data_shape, cfg.hidden, posterior.params_out, cfg.activation, cfg.dropout)
        decoder = MLPDecoder(cfg.latent_dim, cfg.hidden, out_shape, cfg.activation, cfg.dropout)
    elif cfg.arch == "conv":
        if len(data_shape) != 3:
            raise ModelError(
                f"model.arch='conv' needs images (C, H, W), but the data has shape {data_shape}; "
                "use model.arch='mlp' for tabular data"
            )
        if not cfg.channels:
            raise ModelError("model.channels is empty: give at least one conv width, e.g. [32, 64]")
        c, h, w = data_shape
        encoder = ConvEncoder((c, h, w), cfg.channels, posterior.params_out, cfg.activation, cfg.dropout)
        decoder = ConvDecoder(cfg.latent_dim, cfg.channels, (p * c, h, w), cfg.activation, cfg.dropout)
    else:
        raise ModelError(f"unknown model.arch {cfg.arch!r}: use 'mlp' or 'conv'")
    return VAE(encoder, decoder, likelihood, prior, posterior, data_shape, cfg.latent_dim)
