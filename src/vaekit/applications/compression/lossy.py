"""Lossy compression: quantised posterior means, entropy-coded under a factorised density.

Each latent the decoder reads is the posterior mean rounded to a step ``step(quality) * scale_d``,
where ``scale_d`` is the latent's average posterior standard deviation on the training data (a
latent the model is sure about gets a fine step; an unused one, with posterior ~ prior, gets a
coarse step and costs nothing). The integer symbols are coded latent by latent under a histogram
of the training data's symbols at the same step (add-one-half smoothing, one symbol of margin on
each side; symbols beyond are clipped to it) — a nonparametric factorised density, fitted once
after training and saved in the run directory (``compression.safetensors``). Without a fitted
density the discretised N(0, 1) prior is used, with step ``step(quality)`` on every latent.

The restored example is the decoder's mean at the quantised latents.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaekit.applications.compression import bins
from vaekit.applications.compression.errors import CompressionError
from vaekit.applications.compression.format import LOSSY, Header, bytes_to_words, words_to_bytes
from vaekit.core.hierarchy import FirstLayer
from vaekit.core.vae import VAE

QUALITIES = tuple(range(1, 13))
DENSITY_FILE = "compression.safetensors"
ALPHA = 0.5  # pseudo-count per symbol of a latent's range
PRIOR_SPAN = 8.0  # the discretised prior covers +-8 standard deviations; beyond is clipped


def step(quality: int) -> float:
    """Quantisation step relative to a latent's scale: 16 at quality 1, halved every two levels (1 at
    quality 9). A decoder trained on posterior draws barely notices steps below about one posterior
    standard deviation, so the useful range is coarse."""
    if quality not in QUALITIES:
        raise CompressionError(
            f"quality {quality} is not one of {QUALITIES[0]}..{QUALITIES[-1]} (1: smallest files, {QUALITIES[-1]}: best)"
        )
    return 2.0 ** ((9 - quality) / 2)


def coded_dims(model: VAE) -> int:
    """How many latents the decoder reads (z_1 alone in a stacked model)."""
    decoder = model.decoder
    return int(decoder.d1) if isinstance(decoder, FirstLayer) else int(model.latent_dim)


def posterior_means(model: VAE, x: torch.Tensor, batch_size: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations (N, d) of the latents the decoder reads."""
    if getattr(model, "conditional", False):
        raise CompressionError("lossy compression of a conditional model is not supported: use an unconditional run")
    d = coded_dims(model)
    means, stds = [], []
    with torch.inference_mode():
        for xb in x.split(batch_size):
            qz = model.encode(xb.to(torch.float32))
            try:
                means.append(qz.mean[:, :d].double())
                stds.append(qz.stddev[:, :d].double())
            except (NotImplementedError, AttributeError):
                raise CompressionError(
                    f"lossy compression needs a posterior with a mean and a standard deviation; {type(qz).__name__} "
                    "has none: use model.posterior 'diagonal' or 'full', or stacked layers"
                ) from None
    return torch.cat(means), torch.cat(stds)


@dataclass(frozen=True)
class LatentDensity:
    """Per quality and latent, counts of the quantised training means (the factorised density)."""

    scale: np.ndarray  # (d,) average posterior standard deviation of each latent
    offsets: dict[int, np.ndarray]  # quality -> (d,) lowest symbol of each latent's range
    counts: dict[int, np.ndarray]  # quality -> (d, W) counts, zero beyond each latent's range
    widths: dict[int, np.ndarray]  # quality -> (d,) symbols in each latent's range
    model_id: bytes
    fitted_on: int

    def probs(self, quality: int, j: int) -> np.ndarray:
        return self.counts[quality][j, : self.widths[quality][j]].astype(np.float64) + ALPHA

    @property
    def id(self) -> bytes:
        h = hashlib.sha256(self.scale.astype("<f8").tobytes())
        for q in sorted(self.counts):
            for a in (self.offsets[q], self.widths[q], self.counts[q]):
                h.update(a.astype("<i8").tobytes())
        return h.digest()[:4]


def fit_density(model: VAE, x: torch.Tensor, batch_size: int = 1024) -> LatentDensity:
    """Fit the factorised latent density on training examples x (N, *data_shape)."""
    from vaekit.applications.compression.format import model_id

    mu, sd = posterior_means(model, x, batch_size)
    scale = sd.mean(0).numpy()  # (d,)
    means = mu.numpy()
    offsets, counts, widths = {}, {}, {}
    for q in QUALITIES:
        sym = np.rint(means / (step(q) * scale)).astype(np.int64)  # (N, d)
        lo, hi = sym.min(0) - 1, sym.max(0) + 1
        w = hi - lo + 1
        c = np.zeros((len(lo), int(w.max())), np.int64)
        for j in range(len(lo)):
            c[j, : w[j]] = np.bincount(sym[:, j] - lo[j], minlength=int(w[j]))
        offsets[q], counts[q], widths[q] = lo, c, w
    return LatentDensity(scale, offsets, counts, widths, model_id(model), len(x))


def save_density(density: LatentDensity, run_dir: str | Path, meta: dict | None = None) -> Path:
    """Write the density to ``run_dir/compression.safetensors`` (atomically)."""
    from vaekit.checkpoint import save_tensors

    tensors = {"scale": torch.from_numpy(density.scale)}
    for q in density.counts:
        tensors[f"q{q}.offsets"] = torch.from_numpy(density.offsets[q])
        tensors[f"q{q}.widths"] = torch.from_numpy(density.widths[q])
        tensors[f"q{q}.counts"] = torch.from_numpy(density.counts[q].astype(np.int32))
    info = {"format": 1, "model_id": density.model_id.hex(), "fitted_on": density.fitted_on, **(meta or {})}
    path = Path(run_dir) / DENSITY_FILE
    save_tensors(path, tensors, metadata={"density": json.dumps(info)})
    return path


def load_density(run_dir: str | Path) -> LatentDensity | None:
    """The density saved in a run directory, or None when there is none."""
    from vaekit.checkpoint import load_tensors

    path = Path(run_dir) / DENSITY_FILE
    if not path.is_file():
        return None
    t, meta = load_tensors(path)
    try:
        info = json.loads(meta["density"])
        qs = sorted(int(k[1:].split(".")[0]) for k in t if k.endswith(".counts"))
        arr = lambda k: t[k].numpy().astype(np.int64)  # noqa: E731
        return LatentDensity(
            t["scale"].numpy().astype(np.float64),
            {q: arr(f"q{q}.offsets") for q in qs},
            {q: arr(f"q{q}.counts") for q in qs},
            {q: arr(f"q{q}.widths") for q in qs},
            bytes.fromhex(info["model_id"]),
            int(info["fitted_on"]),
        )
    except (KeyError, ValueError) as e:
        raise CompressionError(f"{path} is damaged ({e}); delete it and compress again to refit it") from None


def _check_density(density: LatentDensity, model: VAE, quality: int) -> None:
    from vaekit.applications.compression.format import model_id

    if density.model_id != model_id(model):
        raise CompressionError("the latent density was fitted for another model; refit it (delete compression.safetensors)")
    if quality not in density.counts:
        raise CompressionError(f"the latent density has no tables for quality {quality}; refit it")


def _symbols_range(density: LatentDensity | None, quality: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(lowest symbol, number of symbols) of each latent (d,)."""
    if density is not None:
        return density.offsets[quality], density.widths[quality]
    r = int(np.ceil(PRIOR_SPAN / step(quality)))
    return np.full(d, -r, np.int64), np.full(d, 2 * r + 1, np.int64)


def _models(density: LatentDensity | None, quality: int, d: int) -> list:
    c = bins.constriction().stream.model
    if density is not None:
        return [c.Categorical(density.probs(quality, j), perfect=False) for j in range(d)]
    r = int(np.ceil(PRIOR_SPAN / step(quality)))
    return [c.QuantizedGaussian(0, 2 * r, float(r), 1.0 / step(quality))] * d  # symbols shifted by r


def _steps(density: LatentDensity | None, quality: int, d: int) -> np.ndarray:
    return step(quality) * (density.scale if density is not None else np.ones(d))


def compress_lossy(model: VAE, x: torch.Tensor, mid: bytes, quality: int, density: LatentDensity | None) -> tuple[Header, bytes]:
    d = coded_dims(model)
    step(quality)  # checks the quality
    if density is not None:
        _check_density(density, model, quality)
    mu, _ = posterior_means(model, x)
    lo, width = _symbols_range(density, quality, d)
    sym = np.clip(np.rint(mu.numpy() / _steps(density, quality, d)).astype(np.int64), lo, lo + width - 1) - lo  # (N, d)
    coder = bins.constriction().stream.stack.AnsCoder()
    for j, m in enumerate(_models(density, quality, d)):
        coder.encode_reverse(np.ascontiguousarray(sym[:, j], dtype=np.int32), m)
    header = Header(
        mode=LOSSY, model_id=mid, count=len(x), shape=tuple(x.shape[1:]), quality=quality,
        density_id=density.id if density is not None else b"",
    )  # fmt: skip
    return header, words_to_bytes(coder.get_compressed())


def decompress_lossy(model: VAE, header: Header, payload: bytes, density: LatentDensity | None) -> torch.Tensor:
    if header.density_id:
        if density is None:
            raise CompressionError(
                "the file was coded under the run's fitted latent density (compression.safetensors), which is missing: "
                "decompress with the run directory that compressed it"
            )
        if density.id != header.density_id:
            raise CompressionError(
                "the file was coded under another latent density than the run's: the density was refitted since"
            )
        _check_density(density, model, header.quality)
    else:
        density = None
    d, n, quality = coded_dims(model), header.count, header.quality
    step(quality)
    lo, _ = _symbols_range(density, quality, d)
    coder = bins.constriction().stream.stack.AnsCoder(bytes_to_words(payload))
    sym = np.zeros((n, d), np.int64)
    models = _models(density, quality, d)
    for j in range(d - 1, -1, -1):
        sym[:, j] = coder.decode(models[j], n)
    if not coder.is_empty():
        raise CompressionError("the file's payload holds more than its header says: it is corrupt")
    return restore(model, torch.from_numpy((sym + lo) * _steps(density, quality, d)))


def restore(model: VAE, z: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The decoder's mean (N, *data_shape) at latents z (N, d) (the rest of a stacked latent at 0)."""
    full = torch.zeros(len(z), model.latent_dim, dtype=torch.float32)
    full[:, : z.shape[1]] = z.to(torch.float32)
    with torch.inference_mode():
        return torch.cat([model.decode(zb).mean for zb in full.split(batch_size)]).to(torch.float32)
