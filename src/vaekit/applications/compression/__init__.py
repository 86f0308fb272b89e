"""Compression to real files with a trained VAE.

- lossless (default): bits-back coding with ANS (:mod:`.bitsback`) — the file decodes to the exact
  input; for binary data (Bernoulli likelihood) or 8-bit data (discretized logistic);
- lossy: the posterior mean quantised at a step set by ``quality`` and entropy-coded under a
  factorised density of the quantised latents fitted on training data, or under the discretised
  prior (:mod:`.lossy`); the file decodes to the decoder's mean at the quantised latents.

    data = compress(model, x)                 # bytes of a .vkz file
    x_again = decompress(model, data)         # equal to x, bit for bit

Entropy coding uses the ``constriction`` package (``pip install 'vaekit[compress]'``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaekit.applications.compression.errors import CompressionError
from vaekit.applications.compression.format import LOSSY, MODE_NAMES, Header, model_id, pack, unpack
from vaekit.applications.compression.lossy import (
    QUALITIES,
    LatentDensity,
    compress_lossy,
    decompress_lossy,
    fit_density,
    load_density,
    save_density,
)
from vaekit.core.vae import VAE

__all__ = [
    "QUALITIES",
    "CompressionError",
    "Decoded",
    "LatentDensity",
    "compress",
    "decompress",
    "decompress_file",
    "fit_density",
    "load_density",
    "read_header",
    "save_density",
]


@dataclass(frozen=True)
class Decoded:
    """A decompressed file: the examples (N, *shape) float32 and what its header says."""

    x: torch.Tensor
    header: Header

    @property
    def mode(self) -> str:
        return MODE_NAMES[self.header.mode]


def compress(
    model: VAE,
    x: torch.Tensor,
    lossy: bool = False,
    *,
    quality: int = 6,
    density: LatentDensity | None = None,
    names: tuple[str, ...] | list[str] = (),
    latent_bits: int = 12,
    batch_size: int = 1000,
) -> bytes:
    """The bytes of a compressed file holding x (N, *data_shape).

    Lossless by default (bits-back ANS; ``latent_bits`` per latent, batches of at most
    ``batch_size``). ``lossy=True`` codes the quantised posterior means at ``quality`` (1 coarsest,
    see QUALITIES) under ``density`` (:func:`fit_density`), or under the discretised prior when
    ``density`` is None. ``names`` (one per example) are stored in the file.
    """
    from vaekit.applications.compression.bitsback import compress_lossless
    from vaekit.applications.compression.view import coding_view

    x = _check_input(model, x)
    names = tuple(names)
    if names and len(names) != len(x):
        raise CompressionError(f"{len(names)} names for {len(x)} examples: give one name per example or none")
    mid = model_id(model)
    if lossy:
        header, payload = compress_lossy(model, x, mid, quality, density)
    else:
        header, payload = compress_lossless(coding_view(model), x, mid, latent_bits, batch_size)
    return pack(_with_names(header, names), payload)


def read_header(data: bytes) -> Header:
    """The header of a compressed file (checks magic, length and checksum)."""
    return unpack(data)[0]


def decompress_file(model: VAE, data: bytes, *, density: LatentDensity | None = None) -> Decoded:
    """Decode a file made by :func:`compress` with the same model (and density, for lossy files)."""
    header, payload = unpack(data)
    if header.model_id != model_id(model):
        raise CompressionError(
            f"the file was compressed by another model (weights sha256 {header.model_id.hex()}..., this model's "
            f"{model_id(model).hex()}...): decompress with the run that compressed it"
        )
    if tuple(header.shape) != tuple(model.data_shape):
        raise CompressionError(f"the file holds examples of shape {header.shape}, the model takes {tuple(model.data_shape)}")
    try:
        if header.mode == LOSSY:
            x = decompress_lossy(model, header, payload, density)
        else:
            from vaekit.applications.compression.bitsback import decompress_lossless
            from vaekit.applications.compression.view import coding_view

            x = decompress_lossless(coding_view(model), header, payload)
    except (KeyError, ValueError, OverflowError) as e:  # the entropy coder refusing what it was given
        raise CompressionError(f"the file cannot be decoded with this model ({e}); it is corrupt or from another setup") from None
    return Decoded(x, header)


def decompress(model: VAE, data: bytes, *, density: LatentDensity | None = None) -> torch.Tensor:
    """The examples (N, *data_shape) float32 of a compressed file: the exact input of a lossless
    file, the decoder's mean at the quantised latents for a lossy one."""
    return decompress_file(model, data, density=density).x


def _check_input(model: VAE, x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x)
    shape = tuple(model.data_shape)
    if x.dim() == len(shape):
        x = x.unsqueeze(0)
    if tuple(x.shape[1:]) != shape or len(x) == 0:
        raise CompressionError(f"x has shape {tuple(x.shape)}; the model codes examples of shape {shape}, so pass (N, *{shape})")
    return x


def _with_names(header: Header, names: tuple[str, ...]) -> Header:
    from dataclasses import replace

    return replace(header, names=names) if names else header
