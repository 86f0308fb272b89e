"""Build a VAE from its ModelConfig and the data shape: the saved config rebuilds the model.

Each setting picks one part; the parts are composed into the one VAE:
networks (``arch``), posterior, prior, stacked layers (``latent_dims``), condition, likelihood.
"""

from __future__ import annotations

from torch import nn

from vaekit.config import ModelConfig
from vaekit.core.condition import Condition
from vaekit.core.flows import FlowPosterior
from vaekit.core.hierarchy import FirstLayer, LadderPosterior, LadderPrior
from vaekit.core.likelihoods import build_likelihood
from vaekit.core.networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, PreparedInput
from vaekit.core.posteriors import DiagonalGaussian, FullCovGaussian
from vaekit.core.priors import MixturePrior, StandardNormal, VampPrior
from vaekit.core.resnet import ResNetDecoder, ResNetEncoder
from vaekit.core.vae import VAE
from vaekit.core.vq import CodePrior, VectorQuantizer
from vaekit.errors import ModelError


def build_model(cfg: ModelConfig, data_shape: tuple[int, ...], condition_dim: int | None = None) -> VAE:
    """``condition_dim`` (a conditional model's class count) is used when ``cfg.condition_dim`` is unset."""
    data_shape = tuple(int(s) for s in data_shape)
    _check(cfg)
    likelihood = build_likelihood(cfg.likelihood, data_shape, scale=cfg.scale, bins=cfg.dlogistic_bins)
    posterior, prior = _latent_parts(cfg, data_shape)
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
    encoder, decoder = _networks(cfg, data_shape, posterior.params_out, dec_in + c_dim, likelihood.params_per_element, c_dim)
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
    if cfg.latent_dims and (cfg.posterior != "diagonal" or cfg.prior != "normal"):
        raise ModelError(
            "a stacked model (model.latent_dims) has its own Gaussian layers: leave model.posterior='diagonal' "
            "and model.prior='normal'"
        )
    if cfg.posterior == "vq" and cfg.prior != "normal":
        raise ModelError("model.posterior='vq' brings its own code prior: leave model.prior='normal'")
    if cfg.posterior in ("planar", "iaf") and cfg.flow_steps < 1:
        raise ModelError(f"model.flow_steps must be at least 1, got {cfg.flow_steps}")
    if cfg.prior == "vamp" and cfg.posterior not in ("diagonal", "full"):
        raise ModelError("model.prior='vamp' needs a Gaussian posterior: model.posterior 'diagonal' or 'full'")


def _latent_parts(cfg: ModelConfig, data_shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
    d = cfg.latent_dim
    if cfg.latent_dims:
        dims = tuple(cfg.latent_dims)
        return LadderPosterior(dims, cfg.latent_hidden, cfg.activation), LadderPrior(dims, cfg.latent_hidden, cfg.activation)
    if cfg.posterior == "vq":
        q = VectorQuantizer(d, cfg.vq_codes, cfg.vq_dim, cfg.vq_decay, cfg.vq_commitment)
        return q, CodePrior(q.positions, cfg.vq_codes)
    posterior: nn.Module
    if cfg.posterior == "diagonal":
        posterior = DiagonalGaussian(d)
    elif cfg.posterior == "full":
        posterior = FullCovGaussian(d)
    elif cfg.posterior in ("planar", "iaf"):
        posterior = FlowPosterior(d, cfg.posterior, cfg.flow_steps, cfg.flow_hidden)
    else:
        raise ModelError(f"unknown model.posterior {cfg.posterior!r}: use diagonal, full, planar, iaf or vq")
    prior: nn.Module
    if cfg.prior == "normal":
        prior = StandardNormal(d)
    elif cfg.prior == "mixture":
        prior = MixturePrior(d, cfg.prior_components)
    elif cfg.prior == "vamp":
        prior = VampPrior(d, cfg.prior_components, data_shape)
    else:
        raise ModelError(f"unknown model.prior {cfg.prior!r}: use normal, mixture or vamp")
    return posterior, prior


def _networks(
    cfg: ModelConfig, data_shape: tuple[int, ...], enc_out: int, dec_in: int, p: int, c_dim: int
) -> tuple[nn.Module, nn.Module]:
    if cfg.arch == "mlp":
        out_shape = (p * data_shape[0], *data_shape[1:])
        encoder = MLPEncoder(data_shape, cfg.hidden, enc_out, cfg.activation, cfg.dropout, cond_dim=c_dim)
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
        return encoder, ConvDecoder(dec_in, cfg.channels, (p * c, h, w), cfg.activation, cfg.dropout)
    if cfg.res_blocks < 0:
        raise ModelError(f"model.res_blocks must be at least 0, got {cfg.res_blocks}")
    encoder = ResNetEncoder((c, h, w), cfg.channels, cfg.res_blocks, enc_out, cfg.activation, cfg.dropout, cond_dim=c_dim)
    return encoder, ResNetDecoder(dec_in, cfg.channels, cfg.res_blocks, (p * c, h, w), cfg.activation, cfg.dropout)
