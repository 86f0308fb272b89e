"""Build a VAE from its ModelConfig and the data shape: the saved config rebuilds the model.

Each setting picks one part from its registry (``vaekit.registry``); the parts are composed into the
one VAE: networks (``arch``), posterior, prior (or the posterior's own), stacked layers
(``latent_dims``), condition, likelihood.
"""

from __future__ import annotations

from torch import nn

from vaekit.config import ModelConfig
from vaekit.core.condition import Condition
from vaekit.core.hierarchy import FirstLayer, LadderPosterior, LadderPrior
from vaekit.core.likelihoods import build_likelihood
from vaekit.core.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, PreparedInput
from vaekit.core.posteriors import PosteriorPart, build_posterior
from vaekit.core.priors import build_prior
from vaekit.core.resnet import ResNetDecoder, ResNetEncoder
from vaekit.core.vae import VAE
from vaekit.errors import ModelError


def build_model(cfg: ModelConfig, data_shape: tuple[int, ...], condition_dim: int | None = None) -> VAE:
    """``condition_dim`` (a conditional model's class count) is used when ``cfg.condition_dim`` is unset."""
    data_shape = tuple(int(s) for s in data_shape)
    _check(cfg)
    likelihood = build_likelihood(cfg.likelihood.kind, data_shape, cfg.likelihood.options)
    posterior, prior = _latent_parts(cfg, data_shape)
    if not isinstance(posterior, PosteriorPart):
        raise ModelError(f"the posterior {type(posterior).__name__} lacks latent_dim or params_out; a posterior part needs both")
    latent_dim = posterior.latent_dim
    dec_in = cfg.latent_dims[0] if cfg.latent_dims else latent_dim  # a stacked model decodes z1 alone
    condition = None
    if cfg.conditional:
        cond_dim = cfg.condition_dim or condition_dim
        if not cond_dim:
            raise ModelError(
                "model.conditional needs the number of classes: set model.condition_dim, or train on data with labels"
            )
        condition = Condition(cond_dim)
    c_dim = condition.dim if condition is not None else 0
    encoder, decoder = _networks(cfg, data_shape, posterior.params_out, dec_in + c_dim, likelihood.decoder_shape(), c_dim)
    if cfg.latent_dims:
        decoder = FirstLayer(decoder, dec_in, latent_dim)
    if cfg.normalize_input or cfg.input_dropout > 0:
        encoder = PreparedInput(encoder, cfg.normalize_input, cfg.input_dropout)
    return VAE(encoder, decoder, likelihood, prior, posterior, data_shape, latent_dim, condition=condition)


def _check(cfg: ModelConfig) -> None:
    if cfg.latent_dim < 1 or any(d < 1 for d in cfg.latent_dims):
        raise ModelError(f"latent sizes must be at least 1, got latent_dim={cfg.latent_dim}, latent_dims={list(cfg.latent_dims)}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ModelError(f"model.dropout must be in [0, 1), got {cfg.dropout}")
    if not 0.0 <= cfg.input_dropout < 1.0:
        raise ModelError(f"model.input_dropout must be in [0, 1), got {cfg.input_dropout}")
    if cfg.latent_dims and (cfg.posterior.kind != "diagonal" or cfg.prior.kind != "normal"):
        raise ModelError(
            "a stacked model (model.latent_dims) has its own Gaussian layers: leave model.posterior='diagonal' "
            "and model.prior='normal'"
        )


def _latent_parts(cfg: ModelConfig, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    if cfg.latent_dims:
        dims = tuple(cfg.latent_dims)
        return LadderPosterior(dims, cfg.latent_hidden, cfg.activation), LadderPrior(dims, cfg.latent_hidden, cfg.activation)
    posterior = build_posterior(cfg.posterior.kind, cfg.latent_dim, cfg.posterior.options)
    own_prior = getattr(posterior, "own_prior", None)
    if own_prior is not None:  # a codebook brings its code prior
        if cfg.prior.kind != "normal":
            raise ModelError(f"model.posterior={cfg.posterior.kind!r} brings its own prior: leave model.prior='normal'")
        return posterior, own_prior()
    return posterior, build_prior(cfg.prior.kind, cfg.latent_dim, data_shape, cfg.prior.options)


def _networks(
    cfg: ModelConfig, data_shape: tuple[int, ...], enc_out: int, dec_in: int, out_shape: tuple[int, ...], c_dim: int
) -> tuple[nn.Module, nn.Module]:
    """Encoder and decoder; the decoder emits ``out_shape`` per example (the likelihood's ``decoder_shape``)."""
    if cfg.arch == "mlp":
        encoder: nn.Module = MLPEncoder(data_shape, cfg.hidden, enc_out, cfg.activation, cfg.dropout, cond_dim=c_dim)
        return encoder, MLPDecoder(dec_in, cfg.hidden, out_shape, cfg.activation, cfg.dropout)
    if cfg.arch not in ("conv", "resnet"):
        raise ModelError(f"unknown model.arch {cfg.arch!r}: use 'mlp', 'conv' or 'resnet'")
    if len(data_shape) != 3:
        raise ModelError(
            f"model.arch={cfg.arch!r} needs images (C, H, W), but the data has shape {data_shape}; "
            "use model.arch='mlp' for tabular data"
        )
    if not cfg.channels:
        raise ModelError("model.channels is empty: give at least one conv width, e.g. [32, 64]")
    c, h, w = data_shape
    if cfg.arch == "conv":
        encoder = ConvEncoder((c, h, w), cfg.channels, enc_out, cfg.activation, cfg.dropout, cond_dim=c_dim)
        return encoder, ConvDecoder(dec_in, cfg.channels, out_shape, cfg.activation, cfg.dropout)
    if cfg.res_blocks < 0:
        raise ModelError(f"model.res_blocks must be at least 0, got {cfg.res_blocks}")
    encoder = ResNetEncoder((c, h, w), cfg.channels, cfg.res_blocks, enc_out, cfg.activation, cfg.dropout, cond_dim=c_dim)
    return encoder, ResNetDecoder(dec_in, cfg.channels, cfg.res_blocks, out_shape, cfg.activation, cfg.dropout)
