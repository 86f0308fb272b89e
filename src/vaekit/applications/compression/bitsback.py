"""Lossless compression by bits-back coding with ANS (Townsend, Bird & Barber 2019, "BB-ANS").

For each batch of examples, on one ANS stack (constriction's ``AnsCoder``)::

    compress                                   decompress (the exact reverse)
    pop  z_1 ~ q(z_1 | x)   (then z_2 | z_1 ...) pop  z_L ~ p(z_L), then z_l ~ p(z_l | z_{l+1})
    push x   ~ p(x | z_1)                       pop  x   ~ p(x | z_1)
    push z_l ~ p(z_l | z_{l+1}), z_L ~ p(z_L)   push z_L .. z_1 ~ q  (the bits given back)

Latents are discretised into bins of equal N(0, 1) mass (``latent_bits`` bits per latent, 12 by
default), so the top layer's prior costs exactly ``latent_bits`` bits and its bins are uniform; the
layers below the top use bins of equal mass under a Gaussian fitted to their spread (:class:`Frame`).
A whole data set is one chained stream: the stack is empty only before the first example, so the
"initial bits" are paid once. Batches start at one example and grow as the stack fills, so a batch's pops rarely
find the stack empty (popping from an empty stack still works, it just gives no bits back).
Network passes run on whole batches in float64; see ``quantize`` for how both sides agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from vaekit.applications.compression import bins
from vaekit.applications.compression.errors import CompressionError
from vaekit.applications.compression.format import LOSSLESS, Header, bytes_to_words, words_to_bytes
from vaekit.applications.compression.quantize import (
    LOC,
    LOG2_SIGMA,
    LOG_SCALE,
    LOGIT,
    MU,
    Exceptions,
    Rounder,
    exp_neg_table,
    logit_tables,
    normal_bins,
    pow2_table,
)
from vaekit.applications.compression.view import CodingView, from_levels, to_levels

SLOT_Q, SLOT_P, SLOT_X = 0, 32, 64  # exception slots: posterior links, prior links, likelihood


REF_MEAN, REF_LOG2_SCALE = 8, 4  # reference frames: means on a 1/8 grid, log2 scales on a 1/4 grid (a byte each)


@dataclass(frozen=True)
class Frame:
    """A layer's bins: equal-mass bins of N(mean_d, scale_d^2) for each latent d. The top layer's
    frame is its prior N(0, 1); a layer below gets one matched to its spread over the data coded
    (stored in the file), so its bins are fine where its values are."""

    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)

    @classmethod
    def standard(cls, d: int) -> Frame:
        return cls(np.zeros(d), np.ones(d))

    @classmethod
    def from_codes(cls, mean: np.ndarray, log2_scale: np.ndarray) -> Frame:
        scale = np.array([2.0 ** (int(c) / REF_LOG2_SCALE) for c in log2_scale])  # python's pow: one value per code
        return cls(mean / float(REF_MEAN), scale)


def _frames(dims: tuple[int, ...], codes: np.ndarray) -> list[Frame]:
    """One frame per layer from the header's codes: (mean, log2 scale) pairs for each layer below the top."""
    frames, at = [], 0
    for d in dims[:-1]:
        if at + 2 * d > len(codes):
            raise CompressionError("the file's header lacks the latent reference frames: it is corrupt")
        frames.append(Frame.from_codes(codes[at : at + d], codes[at + d : at + 2 * d]))
        at += 2 * d
    return [*frames, Frame.standard(dims[-1])]


def _reference_codes(view: CodingView, x64: torch.Tensor, batch: int = 1000) -> np.ndarray:
    """The frames of the layers below the top, from the spread of their posteriors over x: mean of
    the posterior means, and sqrt(variance of the means + mean posterior variance)."""
    stats: list[list[torch.Tensor]] = [[] for _ in view.dims[:-1]]
    with torch.inference_mode():
        for xb in x64.split(batch):
            mu, sigma = view.encode(xb)
            for i in range(len(view.dims) - 1):
                stats[i].append(torch.stack([mu, sigma]))
                mu, sigma = view.up[i](mu)
    codes = []
    for parts in stats:
        mu, sigma = torch.cat(parts, 1)  # (N, d) each
        scale = (mu.var(0, unbiased=False) + sigma.pow(2).mean(0)).sqrt().clamp(2.0**-6, 2.0**8)
        codes += [torch.round(mu.mean(0).clamp(-256, 256) * REF_MEAN), torch.round(scale.log2() * REF_LOG2_SCALE)]
    return torch.cat(codes).to(torch.int64).numpy() if codes else np.zeros(0, np.int64)


def _gaussian(rounder: Rounder, mu: torch.Tensor, sigma: torch.Tensor, slot: int, bits: int, frame: Frame) -> bins.BinnedGaussian:
    """A Gaussian (n, d) on the grid both sides agree on, standardised into the layer's frame."""
    n = len(mu)
    m = rounder(mu.numpy(), MU, slot).reshape(n, -1) / float(2**MU.bits)
    s = pow2_table(LOG2_SIGMA)[rounder(torch.log2(sigma).numpy(), LOG2_SIGMA, slot + 1) - LOG2_SIGMA.imin]
    std_mu = ((m - frame.mean) / frame.scale).reshape(-1)
    return bins.BinnedGaussian(std_mu, (frame.scale / s.reshape(n, -1)).reshape(-1), bits)


def _centres(z: np.ndarray, bits: int, frame: Frame) -> torch.Tensor:
    return torch.from_numpy(frame.mean + frame.scale * normal_bins(bits)[1][z])  # (n, d) float64


class _Chain:
    """One batch's coding steps for a view; compress and decompress call them in mirrored order."""

    def __init__(self, view: CodingView, coder: Any, rounder: Rounder, bits: int, frames: list[Frame]):
        self.v, self.coder, self.r, self.bits, self.frames = view, coder, rounder, bits, frames

    def centres(self, i: int, z: np.ndarray) -> torch.Tensor:
        return _centres(z, self.bits, self.frames[i])

    def posterior(self, i: int, x: torch.Tensor | None, below: np.ndarray | None) -> bins.BinnedGaussian:
        """q(z_{i+1} | x) for i = 0, else q(z_{i+1} | z_i) from the layer below's bins."""
        with torch.inference_mode():
            if i == 0:
                assert x is not None
                mu, sigma = self.v.encode(x)
            else:
                assert below is not None
                mu, sigma = self.v.up[i - 1](self.centres(i - 1, below))
        return _gaussian(self.r, mu, sigma, SLOT_Q + 2 * i, self.bits, self.frames[i])

    def prior(self, i: int, above: np.ndarray) -> bins.BinnedGaussian:
        """p(z_{i+1} | z_{i+2}) for a layer below the top."""
        with torch.inference_mode():
            mu, sigma = self.v.down[i](self.centres(i + 1, above))
        return _gaussian(self.r, mu, sigma, SLOT_P + 2 * i, self.bits, self.frames[i])

    def likelihood(self, z: list[np.ndarray]) -> Any:
        """p(x | z_1) as (m, 2) Bernoulli masses or a discretized logistic over m elements."""
        with torch.inference_mode():
            params = self.v.decode(torch.cat([self.centres(i, zi) for i, zi in enumerate(z)], 1))
        if self.v.likelihood == "bernoulli":
            i = self.r(params[0].numpy(), LOGIT, SLOT_X) - LOGIT.imin
            zeros, ones = logit_tables()
            return np.stack([zeros[i], ones[i]], 1)
        loc = self.r(params[0].numpy(), LOC, SLOT_X) / float(2**LOC.bits)
        inv_scale = exp_neg_table(LOG_SCALE)[self.r(params[1].numpy(), LOG_SCALE, SLOT_X + 1) - LOG_SCALE.imin]
        return bins.DiscretizedLogistic(loc, inv_scale, self.v.levels)

    def push_x(self, px: Any, k: np.ndarray, ledger: bins.Ledger | None) -> None:
        if isinstance(px, np.ndarray):
            bins.push_binary(self.coder, px, k, ledger, "x")
        else:
            bins.push_levels(self.coder, px, k, ledger, "x")

    def pop_x(self, px: Any, m: int) -> np.ndarray:
        return bins.pop_binary(self.coder, px) if isinstance(px, np.ndarray) else bins.pop_levels(self.coder, px, m)


def _x_float(k: np.ndarray, levels: int) -> torch.Tensor:
    return torch.from_numpy(k).to(torch.float64) / float(levels - 1)


def _data_sha256(k: np.ndarray) -> bytes:
    return hashlib.sha256(k.astype(np.uint16 if k.max(initial=0) > 255 else np.uint8).tobytes()).digest()


def compress_lossless(
    view: CodingView,
    x: torch.Tensor,
    model_id: bytes,
    latent_bits: int = 12,
    max_batch: int = 1000,
    ledger: bins.Ledger | None = None,
) -> tuple[Header, bytes]:
    """Code x (N, *shape) losslessly in one chained stream: (header, payload). A ``ledger`` collects
    the information content of what was coded: "x" and "prior" pushed, "posterior" popped (bits back)."""
    if not 1 <= latent_bits <= 20:
        raise CompressionError(f"latent_bits must be between 1 and 20, got {latent_bits}")
    if max_batch < 1:
        raise CompressionError(f"the batch size must be at least 1, got {max_batch}")
    k = to_levels(x, view.levels)  # (N, *shape) int64
    x64 = _x_float(k, view.levels)  # what the encoder reads, the same on both sides
    references = _reference_codes(view, x64)
    n_all = len(k)
    coder = bins.constriction().stream.stack.AnsCoder()
    rounder = Rounder()
    chain = _Chain(view, coder, rounder, latent_bits, _frames(view.dims, references))
    pop_bound = view.latents * latent_bits  # bits a batch's pops take per example, at most (about)
    sizes: list[int] = []
    start = 0
    while start < n_all:
        n = int(min(max(1, coder.num_bits() // pop_bound), max_batch, n_all - start))
        rounder.batch = len(sizes)
        kb = k[start : start + n]
        z: list[np.ndarray] = []
        for i, d in enumerate(view.dims):  # pop z_1, then z_2 | z_1, ...
            q = chain.posterior(i, x64[start : start + n] if i == 0 else None, z[-1] if z else None)
            z.append(bins.pop(coder, q, n * d, ledger, "posterior").reshape(n, d))
        chain.push_x(chain.likelihood(z), kb.reshape(-1), ledger)
        for i in range(len(view.dims) - 1):  # push z_l under p(z_l | z_{l+1}), bottom up
            bins.push(coder, chain.prior(i, z[i + 1]), z[i].reshape(-1), ledger, "prior")
        bins.push_uniform(coder, z[-1].reshape(-1), latent_bits, ledger, "prior")
        sizes.append(n)
        start += n
    header = Header(
        mode=LOSSLESS,
        model_id=model_id,
        count=n_all,
        shape=tuple(k.shape[1:]),
        latent_bits=latent_bits,
        batch_sizes=tuple(sizes),
        exceptions=rounder.exceptions.arrays(),
        data_sha256=_data_sha256(k),
        references=tuple(references.tolist()),
    )
    return header, words_to_bytes(coder.get_compressed())


def decompress_lossless(view: CodingView, header: Header, payload: bytes) -> torch.Tensor:
    """The exact examples (N, *shape) float32 of a lossless file."""
    bits, sizes = header.latent_bits, header.batch_sizes
    if sum(sizes) != header.count or not 1 <= bits <= 20:
        raise CompressionError("the file's header is inconsistent (batch sizes or latent bits): it is corrupt")
    coder = bins.constriction().stream.stack.AnsCoder(bytes_to_words(payload))
    rounder = Rounder(Exceptions(*[[a] for a in header.exceptions]) if len(header.exceptions) else Exceptions.empty())
    chain = _Chain(view, coder, rounder, bits, _frames(view.dims, np.asarray(header.references, np.int64)))
    m = int(np.prod(header.shape))
    out = np.zeros((header.count, m), np.int64)
    ends = np.cumsum(sizes)
    for j in range(len(sizes) - 1, -1, -1):
        n = sizes[j]
        rounder.batch = j
        z: list[np.ndarray] = [np.zeros(0, np.int64)] * len(view.dims)
        z[-1] = bins.pop_uniform(coder, n * view.dims[-1], bits).reshape(n, view.dims[-1])
        for i in range(len(view.dims) - 2, -1, -1):
            z[i] = bins.pop(coder, chain.prior(i, z[i + 1]), n * view.dims[i]).reshape(n, view.dims[i])
        kb = chain.pop_x(chain.likelihood(z), n * m).reshape(n, *header.shape)
        for i in range(len(view.dims) - 1, -1, -1):  # give the bits back: push z_L .. z_1 under q
            q = chain.posterior(i, _x_float(kb, view.levels) if i == 0 else None, z[i - 1] if i else None)
            bins.push(coder, q, z[i].reshape(-1))
        out[ends[j] - n : ends[j]] = kb.reshape(n, m)
    k = out.reshape(header.count, *header.shape)
    if not coder.is_empty() or _data_sha256(k) != header.data_sha256:
        raise CompressionError(
            "the decoded data does not match the file's checksum: another vaekit, torch or CPU computed the model "
            "differently from the one that compressed it; decompress with the setup that compressed it"
        )
    return from_levels(k, view.levels)
