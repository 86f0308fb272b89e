"""vaekit: train, measure and use variational autoencoders.

    run = vaekit.train(config, out="runs/x")     # a RunConfig, or a path to a TOML/YAML file
    model = vaekit.load("runs/x")                # the VAE with its best weights, eval mode
    qz = model.encode(x); px = model.decode(z); x_new = model.sample(16)

Heavy modules are imported on first use so ``import vaekit`` and ``vaekit --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vaekit.errors import VaekitError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pathlib import Path

    from vaekit.config import RunConfig
    from vaekit.core.vae import VAE
    from vaekit.training.loop import Run


def train(
    config: RunConfig | str | Path | None = None,
    out: str | Path = "runs/vaekit",
    *,
    overrides: list[str] | None = None,
    resume: bool = False,
) -> Run:
    """Train a VAE; ``config`` is a RunConfig, a config file path, or None for the defaults."""
    from vaekit.config import RunConfig, load_config
    from vaekit.training.loop import fit

    if not isinstance(config, RunConfig):
        config = load_config(config, overrides)
    return fit(config, out, resume=resume)


def load(run_dir: str | Path, which: str = "best") -> VAE:
    """The trained model of a run directory (``which='best'`` or ``'last'``), in eval mode."""
    from vaekit.checkpoint import RunDir

    return RunDir(run_dir).load_model(which)


def compress(
    model: VAE,
    x: Any,
    lossy: bool = False,
    *,
    quality: int = 6,
    density: Any = None,
    names: tuple[str, ...] = (),
    latent_bits: int = 12,
    batch_size: int = 1000,
) -> bytes:
    """The bytes of a compressed file holding x (N, *data_shape): lossless bits-back ANS by default,
    or quantised latents (``lossy``, at ``quality`` 1..12, under ``density`` or the prior); see
    :func:`vaekit.applications.compression.compress`."""
    from vaekit.applications.compression import compress as _compress

    return _compress(
        model, x, lossy, quality=quality, density=density, names=names, latent_bits=latent_bits, batch_size=batch_size
    )


def decompress(model: VAE, data: bytes, *, density: Any = None) -> Any:
    """The examples (N, *data_shape) float32 of a file made by :func:`compress` with the same model."""
    from vaekit.applications.compression import decompress as _decompress

    return _decompress(model, data, density=density)


def __getattr__(name: str) -> Any:
    if name in ("RunConfig", "DataConfig", "ModelConfig", "TrainConfig", "load_config"):
        import vaekit.config as config

        return getattr(config, name)
    if name == "load_data":
        from vaekit.data import load_data

        return load_data
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")


__all__ = ["VaekitError", "__version__", "compress", "decompress", "load", "train"]
